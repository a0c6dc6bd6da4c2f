namespace Hoop.Proxy.Reviews;

/// <summary>Too many reviews pending for one caller on one connection.</summary>
internal sealed class TooManyReviewsException(string message) : Exception(message);
