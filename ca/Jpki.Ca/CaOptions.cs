using Jpki.Core.Clock;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca;

/// <summary>How one CA API process runs; the defaults are the install's ports on loopback.</summary>
public sealed record CaOptions
{
    /// <summary>Where to listen. Port 0 picks a free port (tests). Loopback only: TLS is not configured yet.</summary>
    public string ListenUrl { get; init; } = "http://127.0.0.1:8081";

    /// <summary>Base URL of Juki-Net (the simulator by default).</summary>
    public Uri JukiNetBaseAddress { get; init; } = new("http://127.0.0.1:8084/");

    /// <summary>Juki-Net attempts per lookup before the CA answers 503.</summary>
    public int JukiNetMaxAttempts { get; init; } = 3;

    /// <summary>The first retry delay of Juki-Net lookups (doubling).</summary>
    public TimeSpan JukiNetFirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Extra logging set-up, e.g. a test's capturing provider.</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>The clock of issuance, audit and the store.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How the Juki-Net change feed is followed.</summary>
    public FeedOptions Feed { get; init; } = new();

    /// <summary>Delivery confirmation and the sweeper of unconfirmed certificates.</summary>
    public DeliveryOptions Delivery { get; init; } = new();

    /// <summary>How long the second officer has to approve an issuer-key compromise.</summary>
    public TimeSpan TwoOfficerWindow { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often the CA checks whether a delegated OCSP responder certificate is due for renewal.</summary>
    public TimeSpan ResponderRenewalCheckInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often the CA looks for roots, responder and checkpoint certificates near their end (<see cref="ExpiryAlarmService"/>).</summary>
    public TimeSpan ExpiryCheckInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Where the clock's synchronisation status comes from; null: chrony or systemd-timesyncd (<see cref="SystemClockSyncSource"/>). Tests pass a fake.</summary>
    public IClockSyncSource? ClockSource { get; init; }

    /// <summary>JSON request bodies larger than this are refused with 413.</summary>
    /// <summary>The migrations this CA's code carries (tests: a "next version" with scripts of its own); null: the embedded ones.</summary>
    public Jpki.Core.Store.MigrationSet? Migrations { get; init; }

    public const long MaxRequestBodyBytes = 64 * 1024;
}
