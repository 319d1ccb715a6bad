using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Certificates;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca;

/// <summary>How long a window has to confirm that a certificate reached the card.</summary>
public sealed record DeliveryOptions
{
    /// <summary>A certificate not confirmed this long after issuance is revoked as destroyed before delivery.</summary>
    public TimeSpan ConfirmWithin { get; init; } = TimeSpan.FromMinutes(30);

    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// No half state between the CA and the card: the window confirms delivery once the certificate
/// is on the card (<c>issued → delivered</c>); a certificate still unconfirmed after
/// <see cref="DeliveryOptions.ConfirmWithin"/> is revoked by the sweeper as destroyed before
/// delivery (unspecified) and marked <c>destroyed</c>, both audited, so a card that never got
/// its certificate leaves no valid certificate behind.
/// </summary>
public sealed partial class CertificateDelivery(CaServices services, ILogger<CertificateDelivery> logger) : BackgroundService
{
    public const string SweeperActor = "system/delivery-sweeper";

    /// <summary><c>POST /api/v1/certificates/{serial}/delivery</c>: the window confirms the certificate is on the card.</summary>
    public async Task<IResult> ConfirmAsync(string serial, HttpContext context, Account operatorAccount)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(operatorAccount);
        var normalised = serial.ToLowerInvariant();
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        var row = normalised.Length is > 0 and <= 40 && normalised.All(char.IsAsciiHexDigitLower)
            ? EndEntityCertificateStore.FindDelivery(tx, normalised)
            : null;
        if (row?.DeliveryState is null)
        {
            return ProblemTypes.Problem(404, ProblemTypes.CertificateNotFound, "no such certificate", "the CA issued no end-entity certificate with this serial");
        }

        if (row.MunicipalityCode is null || !operatorAccount.IsBoundTo(row.MunicipalityCode))
        {
            return ProblemTypes.Problem(403, ProblemTypes.MunicipalityNotBound, "municipality not bound", "the certificate belongs to a municipality this operator is not bound to");
        }

        if (row.DeliveryState == "delivered")
        {
            return Answer(normalised, "delivered", row.Status);
        }

        if (row.DeliveryState == "destroyed" || row.Status == "revoked")
        {
            return ProblemTypes.Problem(409, ProblemTypes.DeliveryTooLate, "not deliverable", "the certificate was revoked before its delivery was confirmed; remove it from the card and issue a new one");
        }

        EndEntityCertificateStore.SetDeliveryState(tx, normalised, "delivered");
        services.Audit.Append(tx, new AuditRecord(operatorAccount.Id, "certificate.delivered", normalised, new JsonObject()));
        await tx.CommitAsync(context.RequestAborted);
        return Answer(normalised, "delivered", row.Status);
    }

    /// <summary>Revokes and marks destroyed every certificate unconfirmed for too long; returns how many.</summary>
    public int SweepOnce()
    {
        var swept = 0;
        var deadlineUs = Instant.NowMicros(services.Options.Time) - (services.Options.Delivery.ConfirmWithin.Ticks / 10);
        while (true)
        {
            using var tx = services.Database.BeginWrite();
            var serials = EndEntityCertificateStore.UndeliveredBefore(tx, deadlineUs, 100);
            foreach (var serial in serials)
            {
                EndEntityCertificateStore.SetDeliveryState(tx, serial, "destroyed");
                services.Revoker.Revoke(tx, new RevocationOrder
                {
                    Serial = serial,
                    Cause = RevocationCause.DestroyedBeforeDelivery,
                    Source = "delivery-sweeper",
                    Actor = SweeperActor,
                    InvalidityDate = Jpki.Core.Jst.DateOf(services.Options.Time.GetUtcNow()),
                });
                services.Audit.Append(tx, new AuditRecord(SweeperActor, "certificate.destroyed-before-delivery", serial, new JsonObject
                {
                    ["confirmWithinSeconds"] = (long)services.Options.Delivery.ConfirmWithin.TotalSeconds,
                }));
            }

            tx.Commit();
            swept += serials.Count;
            if (serials.Count < 100)
            {
                break;
            }
        }

        if (swept > 0)
        {
            LogSwept(swept);
        }

        return swept;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                SweepOnce();
            }
            catch (Exception e) when (e is System.Data.Common.DbException or Jpki.Hsm.HsmException)
            {
                LogSweepFailed(e.Message);
            }

            try
            {
                await Task.Delay(services.Options.Delivery.SweepInterval, services.Options.Time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static IResult Answer(string serial, string deliveryState, string status) =>
        Results.Json(new DeliveryAnswer(serial, deliveryState, status), ApiJson.Options);

    [LoggerMessage(Level = LogLevel.Warning, Message = "revoked {Count} certificate(s) whose delivery was never confirmed")]
    private partial void LogSwept(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "delivery sweep failed: {Error}")]
    private partial void LogSweepFailed(string error);
}

/// <summary>The answer of <c>POST /api/v1/certificates/{serial}/delivery</c>: the delivery state and the certificate's status.</summary>
public sealed record DeliveryAnswer(string Serial, string DeliveryState, string Status);
