namespace BlkSnapFs.Core;
