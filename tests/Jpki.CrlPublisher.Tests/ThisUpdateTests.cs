using System.Globalization;
using System.Text.RegularExpressions;
using Jpki.Ca.Auditing;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Microsoft.Data.Sqlite;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// Issue 21: a CRL lists no revocation dated after its thisUpdate (RFC 5280 §5.1.2.4), however
/// soon after the revocation it is built — complete, delta, partition, and a new key's first CRLs,
/// whose backdated thisUpdate is clamped to the key's notBefore — and thisUpdate is still never
/// in the future. Read back with openssl (thisUpdate, each entry's revocationDate, the signature);
/// the auditor trail built from the store then has no negative latency
/// (docs/decisions/0260-crl-thisupdate-after-its-revocations.md).
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed partial class ThisUpdateTests(CrlFixture crl)
{
    private static readonly CrlSeries Full = new(CrlFixture.SigningKey, CrlScopeKind.Full);
    private static readonly CrlSeries Yamaguchi = new(CrlFixture.SigningKey, CrlScopeKind.Municipality, "352012");

    [Fact]
    public async Task A_crl_built_right_after_a_revocation_lists_it_at_or_before_its_this_update_which_is_not_in_the_future()
    {
        // A complete CRL just published: the next one's backdated thisUpdate (now − 5 min) is held at most at that one's.
        crl.Services.Publisher.Publish(Full, delta: false, scheduled: false);
        var first = await crl.IssueAsync("352012");
        var second = await crl.IssueAsync("352012");

        crl.Revoke(first.Serial, RevocationCause.CardLost);
        var complete = crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!;
        AssertListedNoLaterThanThisUpdate(complete, first.Serial, crl.Services.Database, "complete");

        crl.Revoke(second.Serial, RevocationCause.MoveOut);
        var delta = crl.Services.Publisher.Publish(Full, delta: true, scheduled: false)!;
        Assert.True(delta.Delta);
        AssertListedNoLaterThanThisUpdate(delta, second.Serial, crl.Services.Database, "delta");

        var partition = crl.Services.Publisher.Publish(Yamaguchi, delta: false, scheduled: false)!;
        AssertListedNoLaterThanThisUpdate(partition, second.Serial, crl.Services.Database, "partition");
    }

    /// <summary>
    /// The clamp case, where the trail showed −148,578 ms: an issuer key whose notBefore is seconds
    /// ago has no CRL yet; a certificate revoked now is published at once. A copy of the fixture's
    /// store, as it would be just after the key was made (no CRLs, no revocations), on a clock set
    /// to 3 s after the key's notBefore.
    /// </summary>
    [Fact]
    public async Task A_new_keys_first_crls_list_a_revocation_made_just_after_its_not_before_and_the_trail_has_no_negative_latency()
    {
        var leaf = await crl.IssueAsync("352012");
        var other = await crl.IssueAsync("352039");
        var key = crl.Services.Publisher.IssuerKeys[CrlFixture.SigningKey];
        var dir = Directory.CreateDirectory(Path.Combine(crl.Ca.Root, "this-update-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var storePath = CopyStore(Path.Combine(dir, "jpki.db"));
        using var fresh = new Database("Data Source=" + storePath + ";Pooling=False", new ShiftedTime(key.NotBefore + TimeSpan.FromSeconds(3) - DateTimeOffset.UtcNow));
        using (var tx = fresh.BeginWrite())
        {
            // The key was just made: nothing revoked, nothing published yet.
            tx.Execute("DELETE FROM crl_first_listings");
            tx.Execute("DELETE FROM crls");
            tx.Execute("DELETE FROM crl_series");
            tx.Execute("DELETE FROM status_changes");
            tx.Execute("UPDATE certificates SET status = 'good', revoked_at_us = NULL, reason = NULL, invalidity_date = NULL WHERE status = 'revoked'");
            tx.Commit();
        }

        var (audit, checkpointSigner) = crl.AuditOfAnotherStore(Path.Combine(dir, "checkpoints"));
        using var signer = checkpointSigner;
        var options = CrlPublisherServices.OptionsFrom(crl.Settings) with { Directory = Path.Combine(dir, "crl"), ArchiveDirectory = Path.Combine(dir, "crl-archive") };
        var publisher = new SeriesPublisher(fresh, audit, new Dictionary<string, CrlIssuerKey> { [key.IssuerKeyId] = key }, options);

        Revoke(fresh, audit, leaf.Serial);
        var complete = publisher.Publish(Full, delta: false, scheduled: false)!;
        // Before issue 21 this thisUpdate was the key's notBefore, 3 s before the revocation it lists.
        Assert.True(complete.ThisUpdate > key.NotBefore, $"thisUpdate {complete.ThisUpdate:O} still clamped to notBefore {key.NotBefore:O}");
        AssertListedNoLaterThanThisUpdate(complete, leaf.Serial, fresh, "first complete");

        Revoke(fresh, audit, other.Serial);
        var delta = publisher.Publish(Full, delta: true, scheduled: false)!;
        AssertListedNoLaterThanThisUpdate(delta, other.Serial, fresh, "first delta");
        var partition = publisher.Publish(new CrlSeries(key.IssuerKeyId, CrlScopeKind.Municipality, "352039"), delta: false, scheduled: false)!;
        AssertListedNoLaterThanThisUpdate(partition, other.Serial, fresh, "first partition");

        // Every series of the key (ARL included) publishes, and every trail latency is ≥ 0.
        Assert.NotEmpty(publisher.PublishAll(delta: false, scheduled: false));
        using var db = fresh.OpenConnection();
        foreach (var serial in new[] { leaf.Serial, other.Serial })
        {
            var trail = TrailAnswer.From(RevocationTrailStore.Trail(db, serial)!);
            Assert.NotNull(trail.FirstCrl);
            var latencies = new Dictionary<string, double?>
            {
                ["eventArrivalToApplied"] = trail.Latencies.EventArrivalToAppliedMs,
                ["causeToRevocation"] = trail.Latencies.CauseToRevocationMs,
                ["revocationToCrlThisUpdate"] = trail.Latencies.RevocationToCrlThisUpdateMs,
                ["revocationToCrlPublished"] = trail.Latencies.RevocationToCrlPublishedMs,
                ["revocationToOcspAnswer"] = trail.Latencies.RevocationToOcspAnswerMs,
                ["causeToCrlThisUpdate"] = trail.Latencies.CauseToCrlThisUpdateMs,
                ["causeToOcspAnswer"] = trail.Latencies.CauseToOcspAnswerMs,
            };
            Assert.NotNull(latencies["revocationToCrlThisUpdate"]);
            Assert.NotNull(latencies["revocationToCrlPublished"]);
            Assert.All(latencies.Where(l => l.Value is not null), l => Assert.True(l.Value >= 0, $"{serial}: {l.Key} = {l.Value} ms"));
            Assert.True(trail.Latencies.RevocationToCrlPublishedMs >= trail.Latencies.RevocationToCrlThisUpdateMs, "published before its thisUpdate");
        }
    }

    /// <summary>
    /// Revocations dated ahead of the publisher's clock: 2 s ahead (another machine's clock, within
    /// what two checked clocks may disagree by) — the build waits, thisUpdate is the revocation
    /// rounded up and not in the future; a minute ahead (a clock error where it was revoked) — listed
    /// as stored, never hidden, thisUpdate not in the future, and alarmed.
    /// </summary>
    [Fact]
    public async Task A_revocation_dated_ahead_of_the_publishers_clock_is_never_hidden_nor_given_a_future_this_update()
    {
        var nearly = await crl.IssueAsync("352012");
        var far = await crl.IssueAsync("352012");
        var dir = Directory.CreateDirectory(Path.Combine(crl.Ca.Root, "this-update-ahead-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var storePath = CopyStore(Path.Combine(dir, "jpki.db"));
        var key = crl.Services.Publisher.IssuerKeys[CrlFixture.SigningKey];
        var (audit, checkpointSigner) = crl.AuditOfAnotherStore(Path.Combine(dir, "checkpoints"));
        using var signer = checkpointSigner;
        var options = CrlPublisherServices.OptionsFrom(crl.Settings) with { Directory = Path.Combine(dir, "crl"), ArchiveDirectory = Path.Combine(dir, "crl-archive") };
        using var store = new Database("Data Source=" + storePath + ";Pooling=False", TimeProvider.System);
        var publisher = new SeriesPublisher(store, audit, new Dictionary<string, CrlIssuerKey> { [key.IssuerKeyId] = key }, options);
        publisher.Publish(Full, delta: false, scheduled: false);

        using (var ahead = new Database("Data Source=" + storePath + ";Pooling=False", new ShiftedTime(TimeSpan.FromSeconds(2))))
        {
            Revoke(ahead, audit, nearly.Serial);
        }

        var started = DateTimeOffset.UtcNow;
        var waited = publisher.Publish(Full, delta: true, scheduled: false)!;
        var revokedAt = Instant.FromMicros(ScalarIn(store, "SELECT revoked_at_us FROM certificates WHERE serial = @serial", new { serial = nearly.Serial }));
        Assert.Equal(Der.RoundUpToSeconds(revokedAt), waited.ThisUpdate);
        Assert.True(revokedAt > started, "revoked ahead of the publisher's clock");
        AssertListedNoLaterThanThisUpdate(waited, nearly.Serial, store, "2 s ahead");

        var alarms = ScalarIn(store, "SELECT COUNT(*) FROM audit_log WHERE action = 'crl.alarm.revocation-ahead'");
        using (var wrong = new Database("Data Source=" + storePath + ";Pooling=False", new ShiftedTime(TimeSpan.FromMinutes(1))))
        {
            Revoke(wrong, audit, far.Serial);
        }

        var listed = publisher.Publish(Full, delta: true, scheduled: false)!;
        Assert.True(listed.ThisUpdate <= DateTimeOffset.UtcNow, $"thisUpdate {listed.ThisUpdate:O} in the future");
        var text = ExternalProcess.RunOrThrow("openssl", "crl", "-inform", "DER", "-in", crl.Snapshot(listed.Path, $"this-update-far-{listed.Number}.crl"), "-noout", "-text");
        Assert.Contains(far.Serial.ToUpperInvariant(), text.ToUpperInvariant(), StringComparison.Ordinal);
        Assert.Equal(alarms + 1, ScalarIn(store, "SELECT COUNT(*) FROM audit_log WHERE action = 'crl.alarm.revocation-ahead'"));
    }

    /// <summary>
    /// openssl reads the file: it verifies, lists <paramref name="serial"/>, and every entry's
    /// revocationDate ≤ thisUpdate ≤ the clock's now; the stored revocation instant (microseconds,
    /// what the trail subtracts) ≤ thisUpdate ≤ published_us too.
    /// </summary>
    private void AssertListedNoLaterThanThisUpdate(PublishedCrl published, string serial, Database store, string what)
    {
        var now = store.Time.GetUtcNow();
        var path = crl.Snapshot(published.Path, $"this-update-{what.Replace(' ', '-')}-{published.Number}.crl");
        var verified = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", crl.RootPem, "-noout", "-verify");
        Assert.True(verified.ExitCode == 0 && verified.Output.Contains("verify OK", StringComparison.Ordinal), $"{what}: {verified.Output}");
        var text = ExternalProcess.RunOrThrow("openssl", "crl", "-inform", "DER", "-in", path, "-noout", "-text");
        var thisUpdate = ParseOpensslTime(LastUpdate().Match(text).Groups[1].Value);
        Assert.Equal(published.ThisUpdate, thisUpdate);
        Assert.True(thisUpdate <= now, $"{what}: thisUpdate {thisUpdate:O} is after now {now:O}");

        var entries = Entry().Matches(text).ToDictionary(m => m.Groups[1].Value.ToUpperInvariant(), m => ParseOpensslTime(m.Groups[2].Value));
        Assert.True(entries.ContainsKey(serial.ToUpperInvariant()), $"{what}: {serial} is not listed:\n{text}");
        Assert.Equal(published.EntryCount, entries.Count);
        Assert.All(entries, e => Assert.True(e.Value <= thisUpdate, $"{what}: {e.Key} revoked at {e.Value:O}, after thisUpdate {thisUpdate:O}"));

        using var db = store.OpenConnection();
        var revokedAtUs = Dapper.SqlMapper.ExecuteScalar<long>(db, "SELECT revoked_at_us FROM certificates WHERE serial = @serial", new { serial });
        var publishedUs = Dapper.SqlMapper.ExecuteScalar<long>(db, "SELECT published_us FROM crls WHERE issuer_key_id = @k AND scope = @scope AND number = @n", new { k = published.Series.IssuerKeyId, scope = published.Series.StoreName, n = published.Number });
        Assert.True(Instant.FromMicros(revokedAtUs) <= thisUpdate, $"{what}: revoked at {Instant.FromMicros(revokedAtUs):O}, after thisUpdate {thisUpdate:O}");
        Assert.True(thisUpdate <= Instant.FromMicros(publishedUs), $"{what}: published at {Instant.FromMicros(publishedUs):O}, before thisUpdate {thisUpdate:O}");
    }

    private static void Revoke(Database store, AuditLog audit, string serial)
    {
        using var tx = store.BeginWrite();
        var result = new CertificateRevoker(audit).Revoke(tx, new RevocationOrder { Serial = serial, Cause = RevocationCause.CardLost, Source = "test", Actor = "officer1" });
        tx.Commit();
        Assert.True(result.Changed, result.Outcome.ToString());
    }

    private static long ScalarIn(Database store, string sql, object? parameters = null)
    {
        using var db = store.OpenConnection();
        return Dapper.SqlMapper.ExecuteScalar<long>(db, sql, parameters);
    }

    private string CopyStore(string path)
    {
        using var source = new SqliteConnection($"Data Source={crl.Ca.DatabasePath}");
        using var target = new SqliteConnection($"Data Source={path};Pooling=False");
        source.Open();
        target.Open();
        source.BackupDatabase(target);
        return path;
    }

    /// <summary>openssl's "Nov 23 00:48:02 2026 GMT".</summary>
    private static DateTimeOffset ParseOpensslTime(string text) =>
        DateTimeOffset.ParseExact(Regex.Replace(text.Trim(), @"\s+", " "), "MMM d HH:mm:ss yyyy 'GMT'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    [GeneratedRegex(@"Last Update: (.+)")]
    private static partial Regex LastUpdate();

    [GeneratedRegex(@"Serial Number: ([0-9A-Fa-f]+)\s*\n\s*Revocation Date: (.+)")]
    private static partial Regex Entry();
}
