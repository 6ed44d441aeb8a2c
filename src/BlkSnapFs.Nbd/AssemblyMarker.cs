namespace BlkSnapFs.Nbd;
