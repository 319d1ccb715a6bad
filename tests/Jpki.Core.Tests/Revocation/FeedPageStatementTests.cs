using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Core.Tests.Store;
using Jpki.JukiNet;
using Xunit.Abstractions;

namespace Jpki.Core.Tests.Revocation;

/// <summary>
/// The statements one feed page costs on PostgreSQL, counted from Npgsql's own tracing (one
/// activity per command sent; each is a round trip): a constant, whatever the page's size
/// (decision 0600). Per-row statements were ~5.7 per event, and at 1 ms of latency each that
/// alone capped the apply below 1,000 events/s.
/// </summary>
public sealed class FeedPageStatementTests(PostgresStoreFixture fixture, ITestOutputHelper output) : IClassFixture<PostgresStoreFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 1, 0, 0, TimeSpan.Zero);
    private static readonly byte[] HmacKey = Encoding.ASCII.GetBytes("test-resident-hmac-key-32-bytes!");

    /// <summary>What a page may cost: lock, position, the two page reads, four batched writes, checkpoints, chain head, position, commit (12), with room for one more.</summary>
    private const int MaxStatementsPerPage = 13;

    [Fact]
    public void A_page_costs_the_same_few_statements_for_10_and_for_400_events()
    {
        var database = new Database(fixture.CreateStore(nameof(A_page_costs_the_same_few_statements_for_10_and_for_400_events)), new ManualClock(Start));
        using var _ = database;
        Migrator.ApplyPending(database);
        // A checkpoint every 7 records: both pages make several, and they must not cost a statement each.
        var log = new AuditLog(TestHsm.Instance.Checkpoint, new AuditOptions
        {
            CheckpointEveryRecords = 7,
            CheckpointInterval = TimeSpan.FromDays(1),
            CheckpointFilePath = Path.Combine(fixture.ScratchDirectory, "statements.checkpoints"),
        });
        var applier = new JukiNetFeedApplier(new CertificateRevoker(log), log, Key, "hmac-1");
        const int residents = 1000;
        using (var tx = database.BeginWrite())
        {
            DatabaseTests.SeedIssuerKey(tx, "key-1");
            tx.Connection.Execute(
                """
                INSERT INTO certificates (serial, issuer_key_id, kind, resident_key, hmac_key_id, juki_sequence, not_before_us, not_after_us, der, status, created_us)
                VALUES (@Serial, 'key-1', @Kind, @ResidentKey, 'hmac-1', 0, 0, @NotAfterUs, @Der, 'good', 0)
                """,
                Enumerable.Range(0, residents).SelectMany(i => new[] { (i, "signing"), (i, "authentication") }).Select(x => new
                {
                    Serial = $"0c{x.i:x6}{(x.Item2 == "signing" ? 1 : 2)}",
                    Kind = x.Item2,
                    ResidentKey = Key(Resident(x.i)),
                    NotAfterUs = Instant.ToMicros(Start.AddYears(5)),
                    Der = new byte[] { 0x30, 0x00 },
                }),
                tx.Transaction);
            tx.Commit();
        }

        var next = 1L;
        ChangePage Page(int events)
        {
            // Every other event revokes (deaths revoke both certificates, moves the signing one);
            // the last is a death of the resident the third event moved out, so a resident's second
            // event in one page is decided against the first one's revocation (and revokes the rest).
            var changes = Enumerable.Range(0, events).Select(n => new ChangeEvent
            {
                Sequence = next + n,
                ResidentCode = Resident((int)((next + n) % residents)),
                Type = n % 2 == 1 ? ChangeType.Correction : n % 4 == 0 ? ChangeType.Death : ChangeType.MoveOut,
                EffectiveDate = new DateOnly(2026, 11, 1),
            }).ToList();
            changes[^1] = new ChangeEvent { Sequence = changes[^1].Sequence, ResidentCode = changes[2].ResidentCode, Type = ChangeType.Death, EffectiveDate = new DateOnly(2026, 11, 1) };
            next += events;
            return new ChangePage(changes, [], next - 1);
        }

        // The first page prepares the batched statements on the pooled connection (once per connection).
        applier.Apply(database, Page(10));
        var (small, smallResult) = Count(() => applier.Apply(database, Page(10)));
        var (large, largeResult) = Count(() => applier.Apply(database, Page(400)));
        output.WriteLine($"10 events, {smallResult.Revocations} revocations: {small.Count} statements\n{string.Join("\n", small)}");
        output.WriteLine($"400 events, {largeResult.Revocations} revocations: {large.Count} statements");

        Assert.Equal((10, 400), (smallResult.Applied, largeResult.Applied));
        Assert.True(largeResult.Revocations >= 300, $"{largeResult.Revocations} revocations");
        Assert.Equal(small.Count, large.Count);
        Assert.InRange(large.Count, 1, MaxStatementsPerPage);

        // And the page did everything it did before: each event, revocation and audit record is there.
        using var connection = database.OpenConnection();
        Assert.Equal(420L, connection.QuerySingle<long>("SELECT COUNT(*) FROM jukinet_events"));
        Assert.Equal(
            connection.QuerySingle<long>("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'"),
            connection.QuerySingle<long>("SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked'"));
        Assert.Equal(
            connection.QuerySingle<long>("SELECT COUNT(*) FROM status_changes WHERE status = 'revoked'"),
            connection.QuerySingle<long>("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'"));
        Assert.Equal(420L, connection.QuerySingle<long>("SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.event-applied'"));
        var verification = AuditVerifier.Verify(database, [TestHsm.Instance.Checkpoint.SubjectPublicKeyInfo], [Path.Combine(fixture.ScratchDirectory, "statements.checkpoints")]);
        Assert.True(verification.IsValid, verification.ToString());
    }

    /// <summary>The commands Npgsql sent while <paramref name="action"/> ran on this thread (its activities under ours).</summary>
    private static (List<string> Statements, T Result) Count<T>(Func<T> action)
    {
        var statements = new List<string>();
        using var parent = new Activity("feed-page").Start();
        var traceId = parent.TraceId;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == traceId)
                {
                    lock (statements)
                    {
                        statements.Add(activity.GetTagItem("db.query.text") as string ?? activity.GetTagItem("db.statement") as string ?? activity.DisplayName);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        var result = action();
        lock (statements)
        {
            return (statements.ToList(), result);
        }
    }

    private static ResidentCode Resident(int i) => ResidentCode.FromFirstTen((4_000_000_000L + i).ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static byte[] Key(ResidentCode code) => HMACSHA256.HashData(HmacKey, Encoding.ASCII.GetBytes(code.Digits));
}
