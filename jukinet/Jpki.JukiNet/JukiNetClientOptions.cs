namespace Jpki.JukiNet;

public sealed record JukiNetClientOptions
{
    /// <summary>Where the Juki-Net server (or the simulator) listens, e.g. <c>http://127.0.0.1:8084/</c>.</summary>
    public required Uri BaseAddress { get; init; }

    /// <summary>Limit for one attempt, from sending the request to the last byte of the answer.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Attempts per call, the first included; connection errors, timeouts and 5xx are retried.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Wait before the second attempt; doubled before each further one.</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>An answer larger than this is refused as a protocol error rather than buffered.</summary>
    public int MaxResponseBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Most events the CA asks for per batch.</summary>
    public const int MaxChangesPerRequest = 1000;
}
