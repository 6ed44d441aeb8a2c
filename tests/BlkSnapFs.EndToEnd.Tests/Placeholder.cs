namespace BlkSnapFs.EndToEnd.Tests; public class Placeholder { [Fact] public void Builds() { } }
