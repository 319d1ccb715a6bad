namespace Jpki.Kiosk;

public sealed record KioskOptions
{
    /// <summary>Where the kiosk listens; loopback only (no TLS is configured).</summary>
    public string ListenUrl { get; init; } = "http://127.0.0.1:8080";

    public Uri CaBaseAddress { get; init; } = new("http://127.0.0.1:8081/");

    /// <summary>The window id written into signing certificates' issuance ids (9 × [A-Za-z0-9]).</summary>
    public string WindowId { get; init; } = "KIOSK0001";

    /// <summary>A session idle this long ends; the operator logs in again.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    public TimeSpan CaTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Where the data-protection key ring is kept ({home}/kiosk-keys for the program, decision 0822);
    /// null leaves ASP.NET Core's default (the service user's home), as tests that build the host in process do.
    /// </summary>
    public string? KeyRingDirectory { get; init; }
}
