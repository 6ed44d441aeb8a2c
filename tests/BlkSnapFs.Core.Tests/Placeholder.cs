namespace BlkSnapFs.Core.Tests; public class Placeholder { [Fact] public void Builds() { } }
