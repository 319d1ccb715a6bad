using Jpki.Core.Issuers;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

namespace Jpki.CrlPublisher;

/// <summary>
/// The issuer keys this publisher signs CRLs with, as the store lists them (active,
/// with a certificate, not compromised or retired, not expired), each with its signer on the publisher's
/// HSM session pool. <see cref="Refresh"/> reads the list again: a key generation added by a
/// ceremony while the publisher runs is picked up without a restart, and a key that stopped
/// signing CRLs (compromised, expired) leaves <see cref="Current"/>. Signers are kept open until
/// disposal, so a publication that still holds a key that just left finishes with it.
/// </summary>
public sealed class CrlSigningKeys(Database database, SessionPool pool) : IDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, CrlIssuerKey> opened = new(StringComparer.Ordinal);
    private readonly List<IDisposable> signers = [];
    private IReadOnlyDictionary<string, CrlIssuerKey> current = new Dictionary<string, CrlIssuerKey>(StringComparer.Ordinal);

    /// <summary>The keys as of the last <see cref="Refresh"/> (an immutable snapshot).</summary>
    public IReadOnlyDictionary<string, CrlIssuerKey> Current => Volatile.Read(ref current);

    /// <summary>
    /// Reads the signing keys from the store and opens a signer for each one not held yet; returns
    /// the ids that joined <see cref="Current"/>. A key that cannot be opened (its HSM object is
    /// missing, its certificate does not match) is left out and reported after the others are in.
    /// </summary>
    /// <exception cref="AggregateException">Some keys could not be opened; the others are in <see cref="Current"/>.</exception>
    public IReadOnlyList<string> Refresh()
    {
        lock (gate)
        {
            using var db = database.OpenConnection();
            var next = new Dictionary<string, CrlIssuerKey>(StringComparer.Ordinal);
            var added = new List<string>();
            var failures = new List<Exception>();
            foreach (var keyId in CrlStore.SigningIssuerKeys(db, Instant.NowMicros(database.Time)))
            {
                if (!opened.TryGetValue(keyId, out var key))
                {
                    try
                    {
                        key = Open(IssuerStore.FindKey(db, keyId)!);
                    }
#pragma warning disable CA1031 // One key that cannot be opened must not keep the others out; reported below.
                    catch (Exception e)
#pragma warning restore CA1031
                    {
                        failures.Add(new InvalidOperationException($"issuer key {keyId} cannot sign CRLs: {e.Message}", e));
                        continue;
                    }

                    opened[keyId] = key;
                }

                next[keyId] = key;
                if (!Current.ContainsKey(keyId))
                {
                    added.Add(keyId);
                }
            }

            Volatile.Write(ref current, next);
            return failures.Count == 0 ? added : throw new AggregateException("some issuer keys cannot sign CRLs", failures);
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var signer in signers)
            {
                signer.Dispose();
            }

            signers.Clear();
            opened.Clear();
        }
    }

    private CrlIssuerKey Open(IssuerKeyRow row)
    {
        var signer = Pkcs11Signer.Open(pool, row.HsmKeyLabel);
        try
        {
            var key = new CrlIssuerKey(row, signer);
            signers.Add(signer);
            return key;
        }
        catch
        {
            signer.Dispose();
            throw;
        }
    }
}

/// <summary>
/// Every node reads the signing keys again every <c>crl.watchEverySeconds</c> (its own loop, not a
/// Quartz job: a cluster runs each job on one node, and every node serves the new key's URLs). A
/// key that joined gets the complete CRLs of its series at once, as a first start would (the next
/// delta run would otherwise publish them).
/// </summary>
internal sealed class CrlSigningKeyRefresh(CrlPublisherServices services, CrlSchedule schedule, ILogger<CrlSigningKeyRefresh> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(schedule.WatchEvery);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var added = services.SigningKeys.Refresh();
                if (added.Count > 0)
                {
                    logger.LogInformation("issuer keys {Keys} now sign CRLs", string.Join(", ", added));
                    var published = 0;
                    foreach (var series in services.Publisher.AllSeries().Where(s => added.Contains(s.IssuerKeyId) && !File.Exists(services.Publisher.PathOf(s, delta: false))))
                    {
                        try
                        {
                            published += services.Publisher.Publish(series, delta: false, scheduled: false) is null ? 0 : 1;
                        }
                        catch (CrlSupersededException)
                        {
                            // Another node of the cluster published it first.
                        }
                    }

                    logger.LogInformation("published {Count} first complete CRLs of issuer keys {Keys}", published, string.Join(", ", added));
                }
            }
#pragma warning disable CA1031 // The loop logs and tries again at the next tick; a key that cannot be opened is named in the message.
            catch (Exception e)
#pragma warning restore CA1031
            {
                logger.LogError(e, "reading the CRL signing keys again failed");
            }
        }
    }
}
