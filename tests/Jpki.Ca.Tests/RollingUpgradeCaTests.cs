using Dapper;
using Jpki.Core.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issue 18, rolling upgrade at the service level (docs/decisions/0530): the collection's CA is
/// the current version; a second CA on the same store is the "next version" — this code with a
/// test-only expanding migration and a contracting one after it (<see cref="CaOptions.Migrations"/>).
/// Its start applies the expanding one while the current CA issues under load, and leaves the
/// contracting one pending; the migrator refuses it naming the current CA; both CAs issue throughout.
/// The expanding migration stays in the collection's store (a nullable column and a table nobody else reads).
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class RollingUpgradeCaTests(CaFixture ca)
{
    private static readonly MigrationSet Next = MigrationSet.Embedded.With(
        MigrationScript.Parse(
            "9101_next_window_notes",
            """
            -- step: expand
            ALTER TABLE certificates ADD COLUMN next_window_note TEXT NULL;
            CREATE TABLE next_window_notes (serial TEXT PRIMARY KEY, note TEXT NOT NULL);
            """),
        MigrationScript.Parse(
            "9102_drop_delivery_state_default",
            """
            -- step: contract
            DROP TABLE next_window_notes;
            """));

    [Fact]
    public async Task The_next_version_expands_the_schema_while_the_current_ca_issues_and_its_contracting_step_waits_for_it()
    {
        var current = ca.CaServices.GetRequiredService<CaServices>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var answers = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                answers.Enqueue((await IssueAsync(ca.CaAddress)).Status);
            }
        });
        await Eventually.HoldsAsync(() => Task.FromResult(answers.Count >= 3), () => $"{answers.Count} issuances before the upgrade");

        var next = ca.BuildCa(TimeProvider.System, options: o => o with { Migrations = Next });
        await next.StartAsync();
        try
        {
            var nextServices = next.Services.GetRequiredService<CaServices>();
            var nextAddress = CaFixture.BoundAddress(next);
            using (var db = current.Database.OpenConnection())
            {
                Assert.Equal(1L, db.ExecuteScalar<long>("SELECT COUNT(*) FROM schema_migrations WHERE version = 9101 AND step = 'expand'"));
                Assert.Equal(0L, db.ExecuteScalar<long>("SELECT COUNT(*) FROM schema_migrations WHERE version = 9102"));
                var registered = StoreClients.All(db, current.Database.Dialect);
                Assert.Contains(registered, c => c.InstanceId == current.StoreClient.InstanceId && c.CodeSchemaVersion == MigrationSet.Embedded.CodeVersion);
                Assert.Contains(registered, c => c.InstanceId == nextServices.StoreClient.InstanceId && c.CodeSchemaVersion == 9102);
            }

            Assert.Contains(ca.LogLines, l => l.Contains("migration left pending", StringComparison.Ordinal) && l.Contains(current.StoreClient.InstanceId, StringComparison.Ordinal));

            // The next version issues and uses its column; the current one goes on issuing beside it.
            var issued = await IssueAsync(nextAddress);
            Assert.Equal(201, issued.Status);
            using (var tx = nextServices.Database.BeginWrite())
            {
                tx.Execute("INSERT INTO next_window_notes (serial, note) VALUES (@serial, 'next version')", new { serial = issued.Serial });
                tx.Execute("UPDATE certificates SET next_window_note = 'next version' WHERE serial = @serial", new { serial = issued.Serial });
                tx.Commit();
            }

            var before = answers.Count;
            await Eventually.HoldsAsync(() => Task.FromResult(answers.Count >= before + 3), () => $"{answers.Count - before} issuances by the current CA after the expand");

            // ./jpki db migrate's rule: the contracting step is refused while the current CA is connected.
            var refused = Assert.Throws<SchemaUpgradeRefusedException>(() => Migrator.Apply(nextServices.Database, Next, deferBlockedContract: false));
            Assert.Equal(SchemaRefusal.ContractBlocked, refused.Refusal);
            Assert.Contains(refused.Blockers, b => b.InstanceId == current.StoreClient.InstanceId);
            Assert.DoesNotContain(refused.Blockers, b => b.InstanceId == nextServices.StoreClient.InstanceId);
            Assert.Contains(current.StoreClient.InstanceId, refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
            await load.WaitAsync(TimeSpan.FromSeconds(60));
            await next.StopAsync();
            await next.DisposeAsync();
        }

        Assert.All(answers, status => Assert.Equal(201, status));
        AccessMatrix.Report($"rolling upgrade (CA, SQLite): the current CA answered {answers.Count} issuances, all 201, while a next-version CA applied 9101 (expand) at its start and issued; 9102 (contract) refused naming the current CA");
    }

    private async Task<(int Status, string? Serial)> IssueAsync(Uri at)
    {
        var code = await ca.AddResidentAsync();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode = code, kind = "authentication", csr = SoftwareCards.Csr(), windowId = "WIN00001A", jukiSequence = 0, cardExpiry = "2035-03-31" }, at: at);
        return (status, status == 201 ? body.GetProperty("serial").GetString() : null);
    }
}
