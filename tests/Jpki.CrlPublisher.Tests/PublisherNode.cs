using System.Collections.Concurrent;
using System.Text.Json;
using Dapper;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// A CRL publisher host with its schedule running (as <c>dotnet Jpki.CrlPublisher.dll</c> runs
/// it), on a store of its own: the fixture's issuer keys and audit-checkpoint key are copied into
/// it, the HSM token is the fixture's. Several nodes given one store and one CRL directory are
/// the instances of a cluster. Every log line of the host (Quartz's included, at every level) is
/// kept in <see cref="Log"/>.
/// </summary>
public sealed class PublisherNode : IAsyncDisposable
{
    private readonly WebApplication app;
    private bool stopped;

    private PublisherNode(WebApplication app, JpkiSettings settings, LogLines log)
    {
        this.app = app;
        Settings = settings;
        Log = log;
    }

    public JpkiSettings Settings { get; }

    public LogLines Log { get; }

    public Uri Address { get; private set; } = null!;

    public CrlPublisherServices Services => app.Services.GetRequiredService<CrlPublisherServices>();

    /// <summary>The settings of a node on <paramref name="connectionString"/> writing CRLs and the archive under <paramref name="directory"/>.</summary>
    public static JpkiSettings SettingsFor(CrlFixture crl, string connectionString, string directory, Func<CrlSettings, CrlSettings> schedule) => crl.Settings with
    {
        Database = connectionString,
        Crl = schedule(crl.Settings.Crl with
        {
            Directory = Path.Combine(directory, "crl"),
            ArchiveDirectory = Path.Combine(directory, "crl-archive"),
            MutualTls = null,
            BackdateSeconds = 0,
        }),
    };

    /// <summary>Migrates the store and copies the fixture's issuers, issuer keys (those <paramref name="issuerKeys"/> accepts, default all) and install keys into it.</summary>
    public static void Seed(CrlFixture crl, string connectionString, Func<string, bool>? issuerKeys = null)
    {
        using var target = new Database(connectionString, TimeProvider.System);
        Migrator.ApplyPending(target);
        using var source = crl.Services.Database.OpenConnection();
        using var tx = target.BeginWrite();
        foreach (var table in new[] { "issuers", "issuer_keys", "install_keys" })
        {
            foreach (IDictionary<string, object?> row in source.Query($"SELECT * FROM {table}"))
            {
                if (table == "issuer_keys" && issuerKeys is not null && !issuerKeys((string)row["id"]!))
                {
                    continue;
                }

                var columns = row.Keys.ToList();
                var parameters = new DynamicParameters();
                foreach (var column in columns)
                {
                    parameters.Add(column, row[column]);
                }

                tx.Execute($"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ({string.Join(", ", columns.Select(c => "@" + c))})", parameters);
            }
        }

        tx.Commit();
    }

    /// <summary>Copies one of the fixture's issuer keys into the store, as a key ceremony adds a key generation.</summary>
    public static void AddIssuerKey(CrlFixture crl, string connectionString, string issuerKeyId)
    {
        using var target = new Database(connectionString, TimeProvider.System);
        using var source = crl.Services.Database.OpenConnection();
        IDictionary<string, object?> row = source.QuerySingle("SELECT * FROM issuer_keys WHERE id = @issuerKeyId", new { issuerKeyId });
        var parameters = new DynamicParameters();
        foreach (var (column, value) in row)
        {
            parameters.Add(column, value);
        }

        using var tx = target.BeginWrite();
        tx.Execute($"INSERT INTO issuer_keys ({string.Join(", ", row.Keys)}) VALUES ({string.Join(", ", row.Keys.Select(c => "@" + c))})", parameters);
        tx.Commit();
    }

    /// <summary>Builds and starts a node; its checkpoint file is its own (<paramref name="name"/>).</summary>
    public static async Task<PublisherNode> StartAsync(CrlFixture crl, JpkiSettings settings, string name, bool publishMissingAtStart = true)
    {
        var log = new LogLines(name);
        settings = settings with { Audit = settings.Audit with { CheckpointFile = Path.Combine(Path.GetDirectoryName(settings.Resolve(settings.Crl.Directory))!, name + "-checkpoints") } };
        var app = CrlHost.Build(settings, crl.Ca.Module, new CrlHostOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            Schedule = true,
            PublishMissingAtStart = publishMissingAtStart,
            ClockSource = FakeClockSyncSource.Synchronised(),
            ConfigureLogging = logging =>
            {
                logging.ClearProviders();
                logging.AddProvider(log);
                logging.AddFilter<LogLines>(null, LogLevel.Trace);
            },
        });
        var node = new PublisherNode(app, settings, log);
        await app.StartAsync();
        node.Address = new Uri(app.Urls.Single().TrimEnd('/') + "/");
        return node;
    }

    public async Task StopAsync()
    {
        if (!stopped)
        {
            stopped = true;
            await app.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await app.DisposeAsync();
    }
}

/// <summary>One audit record of a CRL publication, as the store holds it.</summary>
public sealed record PublicationRecord(long Seq, string IssuerKeyId, string Scope, string Kind, long Number, long? FiredAtUs, string? Node, string Sha256);

/// <summary>Reads what the publisher recorded, from the store.</summary>
public static class PublicationLog
{
    /// <summary>The publications of the fixture's signing key (the install has other issuer keys, each with its own series).</summary>
    public static IReadOnlyList<PublicationRecord> Read(string connectionString) =>
        ReadAll(connectionString).Where(p => p.IssuerKeyId == CrlFixture.SigningKey).ToList();

    public static IReadOnlyList<PublicationRecord> ReadAll(string connectionString)
    {
        using var database = new Database(connectionString, TimeProvider.System);
        using var db = database.OpenConnection();
        return db.Query<(long Seq, string Details)>("SELECT seq, details FROM audit_log WHERE action = 'crl.published' ORDER BY seq")
            .Select(r =>
            {
                var d = JsonDocument.Parse(r.Details).RootElement;
                return new PublicationRecord(
                    r.Seq,
                    d.GetProperty("issuerKeyId").GetString()!,
                    d.GetProperty("scope").GetString()!,
                    d.GetProperty("kind").GetString()!,
                    d.GetProperty("number").GetInt64(),
                    d.TryGetProperty("firedAt", out var f) && f.ValueKind == JsonValueKind.Number ? f.GetInt64() : null,
                    d.TryGetProperty("node", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null,
                    d.GetProperty("sha256").GetString()!);
            })
            .ToList();
    }
}

/// <summary>Keeps every log line of one host, at every level, for the tests to read.</summary>
public sealed class LogLines(string name) : ILoggerProvider
{
    private readonly ConcurrentQueue<string> lines = new();

    public string Name => name;

    public IReadOnlyList<string> Lines => [.. lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogLines owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
