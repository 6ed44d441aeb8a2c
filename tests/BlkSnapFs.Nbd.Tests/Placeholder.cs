namespace BlkSnapFs.Nbd.Tests; public class Placeholder { [Fact] public void Builds() { } }
