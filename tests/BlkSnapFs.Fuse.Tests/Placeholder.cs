namespace BlkSnapFs.Fuse.Tests; public class Placeholder { [Fact] public void Builds() { } }
