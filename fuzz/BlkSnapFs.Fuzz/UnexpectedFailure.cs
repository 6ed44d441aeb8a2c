namespace BlkSnapFs.Fuzz;

/// <summary>
/// A crash that the code under test caught itself and only logged or answered generically (an
/// "unexpected failure" log line, a handler exception turned into EIO, a malformed reply): the harness
/// throws this so afl-fuzz sees it as a crash.
/// </summary>
internal sealed class UnexpectedFailure(string message) : Exception(message);
