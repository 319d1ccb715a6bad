using System.Data.Common;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Org.BouncyCastle.X509;

namespace Jpki.Core.Issuers;

/// <summary>What kind of certificate an <see cref="ExpiryAlarm"/> is about.</summary>
public enum ExpiringCertificateKind
{
    /// <summary>An issuer generation's root; its successor is a newer generation (a rollover).</summary>
    Root,

    /// <summary>An issuer key's delegated OCSP responder certificate; its successor is a renewed one.</summary>
    OcspResponder,

    /// <summary>The audit-checkpoint key's certificate; its successor is a newer checkpoint key.</summary>
    AuditCheckpoint,
}

/// <summary>A certificate the CA depends on that ends within its alarm window and has no successor.</summary>
public sealed record ExpiryAlarm(ExpiringCertificateKind Kind, string KeyId, DateTimeOffset NotAfter)
{
    /// <summary>The kind as the health answer and the audit record spell it.</summary>
    public string KindName => Kind switch
    {
        ExpiringCertificateKind.Root => "root",
        ExpiringCertificateKind.OcspResponder => "ocsp-responder",
        _ => "audit-checkpoint",
    };

    /// <summary>What an operator must do, in one line.</summary>
    public string Remedy => Kind switch
    {
        ExpiringCertificateKind.Root => "roll the issuer over to a new generation (./jpki hsm rollover, docs/rollover.md)",
        ExpiringCertificateKind.OcspResponder => "the CA renews responder certificates itself: see the CA log for why renewal fails",
        _ => "make a new audit-checkpoint key and have auditors pin it",
    };
}

/// <summary>
/// Finds the certificates the CA depends on — issuer roots, delegated OCSP responder
/// certificates, the audit-checkpoint key's certificate — that end within their alarm window
/// (<see cref="ExpiryAlarmSettings"/>) without a successor, and records each alarm in the audit
/// log. Read-only except for the audit record; the CA checks at start and every hour.
/// </summary>
public static class ExpiryAlarms
{
    public const string AuditAction = "certificate.expiry-alarm";

    public static IReadOnlyList<ExpiryAlarm> Find(DbConnection db, DateTimeOffset now, ExpiryAlarmSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var nowUs = Instant.ToMicros(now);
        long Limit(int days) => Instant.ToMicros(now + TimeSpan.FromDays(days));

        var alarms = new List<ExpiryAlarm>();
        alarms.AddRange(IssuerStore.RootsEndingWithoutSuccessor(db, nowUs, Limit(settings.RootDays))
            .Select(k => new ExpiryAlarm(ExpiringCertificateKind.Root, k.Id, Instant.FromMicros(k.NotAfterUs))));
        alarms.AddRange(IssuerStore.RespondersEndingWithoutSuccessor(db, nowUs, Limit(settings.ResponderDays))
            .Select(k => new ExpiryAlarm(ExpiringCertificateKind.OcspResponder, k.Id, Instant.FromMicros(k.NotAfterUs))));

        // The checkpoint key whose certificate ends last stands for all: a newer key is the successor.
        var checkpoint = IssuerStore.ListInstallKeys(db, "audit-checkpoint")
            .Where(k => k.State == "active" && k.CertificateDer is not null)
            .Select(k => (k.Id, NotAfter: new DateTimeOffset(new X509Certificate(k.CertificateDer).NotAfter.ToUniversalTime(), TimeSpan.Zero)))
            .OrderByDescending(k => k.NotAfter)
            .FirstOrDefault();
        if (checkpoint.Id is not null && checkpoint.NotAfter <= now + TimeSpan.FromDays(settings.CheckpointDays))
        {
            alarms.Add(new ExpiryAlarm(ExpiringCertificateKind.AuditCheckpoint, checkpoint.Id, checkpoint.NotAfter));
        }

        return alarms;
    }

    /// <summary>The audit record of a raised alarm (no personal data: key ids and dates only).</summary>
    public static AuditRecord Record(string actor, ExpiryAlarm alarm, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(alarm);
        return new AuditRecord(actor, AuditAction, alarm.KeyId, new JsonObject
        {
            ["kind"] = alarm.KindName,
            ["notAfter"] = Instant.ToMicros(alarm.NotAfter),
            ["daysLeft"] = Math.Floor((alarm.NotAfter - now).TotalDays),
            ["remedy"] = alarm.Remedy,
        });
    }
}
