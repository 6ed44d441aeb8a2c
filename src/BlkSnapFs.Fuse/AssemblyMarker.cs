namespace BlkSnapFs.Fuse;
