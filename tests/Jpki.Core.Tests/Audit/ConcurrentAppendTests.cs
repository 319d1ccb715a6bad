using System.Diagnostics;
using System.Reflection;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Core.Tests.Store;

namespace Jpki.Core.Tests.Audit;

/// <summary>
/// Two separate processes start on one fresh store at the same moment: both run the migrator and
/// then append interleaved on the writers' lock. The result must be one valid chain holding
/// every record of both, with the migration applied once.
/// </summary>
public abstract class ConcurrentAppendTests(IStoreFixture fixture)
{
    private const int PerProcess = 150;

    [Fact]
    public async Task Two_processes_appending_at_once_keep_one_valid_chain()
    {
        var connectionString = fixture.CreateStore("concurrent");
        var hsm = TestHsm.Instance;
        var signer = hsm.Checkpoint;
        var checkpointFile = Path.Combine(fixture.ScratchDirectory, "concurrent", "audit", "checkpoints");

        using var first = StartAppender(connectionString, hsm, checkpointFile, "process-a");
        using var second = StartAppender(connectionString, hsm, checkpointFile, "process-b");
        // Both have migrated (racing each other) and wait; release them together.
        await first.WaitUntilReady();
        await second.WaitUntilReady();
        first.Go();
        second.Go();
        await Task.WhenAll(first.WaitForSuccess(), second.WaitForSuccess());

        using var database = new Database(connectionString, TimeProvider.System);
        var result = AuditVerifier.Verify(database, signer.SubjectPublicKeyInfo, checkpointFile);
        Assert.True(result.IsValid, result.ToString());
        Assert.Equal(2 * PerProcess, result.RecordsChecked);
        using var connection = database.OpenConnection();
        var perActor = connection.Query<(string Actor, long Count)>("SELECT actor, COUNT(*) FROM audit_log GROUP BY actor ORDER BY actor").ToList();
        Assert.Equal([("process-a", (long)PerProcess), ("process-b", (long)PerProcess)], perActor);
        Assert.Equal((long)DatabaseTests.EmbeddedMigrationCount(), connection.ExecuteScalar<long>("SELECT COUNT(*) FROM schema_migrations"));
        // Both writers really interleaved, or this test proved nothing about the lock.
        var actors = connection.Query<string>("SELECT actor FROM audit_log ORDER BY seq").ToList();
        var switches = actors.Zip(actors.Skip(1)).Count(p => p.First != p.Second);
        Assert.True(switches >= 2, $"the two processes did not interleave ({switches} switches)");
        Assert.True(result.CheckpointsChecked >= (2 * PerProcess / 20) - 1, $"only {result.CheckpointsChecked} checkpoints");
    }

    private static Appender StartAppender(string connectionString, TestHsm hsm, string checkpointFile, string actor)
    {
        var dll = typeof(ConcurrentAppendTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "AuditAppenderDll").Value!;
        Assert.True(File.Exists(dll), $"Jpki.AuditAppender was not built at {dll}");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "exec", dll, connectionString, PerProcess.ToString(System.Globalization.CultureInfo.InvariantCulture), hsm.ConfPath, hsm.ModulePath, hsm.TokenLabel, hsm.PinFile, TestHsm.CheckpointLabel, checkpointFile, actor, "20" })
        {
            start.ArgumentList.Add(argument);
        }

        return new Appender(actor, Process.Start(start) ?? throw new InvalidOperationException("could not start the appender"));
    }

    /// <summary>One Jpki.AuditAppender child process.</summary>
    private sealed class Appender(string actor, Process process) : IDisposable
    {
        private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);
        private readonly Task<string> stderr = process.StandardError.ReadToEndAsync();

        public async Task WaitUntilReady()
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Deadline);
            Assert.True(line == "ready", $"{actor} did not get ready: {line} {(process.HasExited ? await stderr : "")}");
        }

        public void Go()
        {
            process.StandardInput.WriteLine("go");
            process.StandardInput.Flush();
        }

        public async Task WaitForSuccess()
        {
            await process.WaitForExitAsync().WaitAsync(Deadline);
            Assert.True(process.ExitCode == 0, $"{actor} exited {process.ExitCode}: {await stderr}");
        }

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }
    }
}

public sealed class SqliteConcurrentAppendTests(SqliteStoreFixture fixture) : ConcurrentAppendTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresConcurrentAppendTests(PostgresStoreFixture fixture) : ConcurrentAppendTests(fixture), IClassFixture<PostgresStoreFixture>;
