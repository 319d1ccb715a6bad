using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Hsm;
using Jpki.JukiNet;
using Npgsql;

namespace Jpki.Benchmarks;

/// <summary>
/// Juki-Net feed events applied per second from a backlog (half of them revoking) through
/// <see cref="JukiNetFeedApplier"/> — real SoftHSM HMAC key for the resident's keyed hash, real
/// audit chain with P-256 checkpoints in SoftHSM — against raw Dapper inserts of the same rows
/// (event rows, certificate updates, status_changes, one audit_log row per record the applier
/// writes; no HMAC, no hashing, no signing) into a second fresh store of the same engine.
/// Only the applying is timed; the stores, certificates and events are made before the clock starts.
/// </summary>
public sealed class JukiNetBenchmark(string directory, int residents, int events, int pageSize)
{
    private const string HmacKeyId = "resident-hmac-v1";
    private const string IssuerKeyId = "bench-key-1";
    private static readonly DateOnly Effective = new(2026, 11, 1);
    private static readonly ChangeType[] RevokingTypes = [ChangeType.NameChange, ChangeType.MoveOut, ChangeType.Death];

    // The untimed warm-up: 40 pages of 50 events, so that every per-page method of both paths is
    // called more than the 30 times tiered compilation counts before it optimises a method.
    private const int WarmUpResidents = 1_000;
    private const int WarmUpEvents = 2_000;
    private const int WarmUpPageSize = 50;

    public IReadOnlyList<Figure> Run(string modulePath, string? postgres)
    {
        var tokens = Path.Combine(directory, "tokens");
        Directory.CreateDirectory(tokens);
        var conf = Path.Combine(directory, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n");
        using var module = Pkcs11Module.Load(modulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = conf });
        var label = "bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var pin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var pinFile = Path.Combine(directory, label + ".pin");
        File.WriteAllText(pinFile, pin);
        File.SetUnixFileMode(pinFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        HsmToken.Initialise(module, label, RandomNumberGenerator.GetBytes(8), Encoding.UTF8.GetBytes(pin));
        using var token = HsmToken.Open(module, label, PinSource.FromFile(pinFile));
        token.GenerateHmacKey("bench-resident-hmac");
        token.GenerateKeyPair(KeyKind.EcP256, "bench-audit-checkpoint");
        using var pool = token.CreatePool("bench-feed", 1);
        using var hmac = Pkcs11Hmac.Open(pool, "bench-resident-hmac");
        using var checkpointSigner = Pkcs11Signer.Open(pool, "bench-audit-checkpoint");
        byte[] ResidentKey(ResidentCode code) => hmac.Compute(Encoding.ASCII.GetBytes(code.Digits));

        var plan = Plan.Make(residents, events, ResidentKey);
        var warmUp = Plan.Make(WarmUpResidents, WarmUpEvents, ResidentKey);
        Console.Error.WriteLine($"jukinet: {residents} residents ({2 * residents} certificates), {events} events ({plan.Revocations} revocations expected), pages of {pageSize}");
        var figures = new List<Figure>
        {
            Measure("sqlite", plan, warmUp, checkpointSigner, ResidentKey, name => ("Data Source=" + Path.Combine(directory, name + ".db"), () => { })),
        };
        if (!string.IsNullOrWhiteSpace(postgres))
        {
            figures.Add(Measure("postgres", plan, warmUp, checkpointSigner, ResidentKey, name => FreshPostgresDatabase(postgres, name)));
        }

        return figures;
    }

    private Figure Measure(string engine, Plan plan, Plan warmUp, ISigner checkpointSigner, Func<ResidentCode, byte[]> residentKey, Func<string, (string ConnectionString, Action Drop)> store)
    {
        var (oursStore, dropOurs) = store("feed");
        var (rawStore, dropRaw) = store("raw");
        var (warmStore, dropWarm) = store("warm");
        var (warmRawStore, dropWarmRaw) = store("warmraw");
        AuditLog AuditOf(string name) => new(checkpointSigner, new AuditOptions
        {
            // The CA's defaults (README, configuration: audit.*).
            CheckpointEveryRecords = 100,
            CheckpointInterval = TimeSpan.FromSeconds(300),
            CheckpointFilePath = Path.Combine(directory, name + ".checkpoints"),
        });
        try
        {
            // Warm-up, untimed, on small stores of their own: a CA following the feed for months
            // runs the applier optimised, and the raw path's Dapper code is warm from the fill
            // already; measured cold, the applier's per-page methods (called once per page, 200
            // times in a 100,000-event run) ran unoptimised through much of the window.
            using (var database = Prepare(warmStore, warmUp))
            {
                var audit = AuditOf(engine + ".warm");
                var applier = new JukiNetFeedApplier(new CertificateRevoker(audit), audit, residentKey, HmacKeyId);
                foreach (var page in warmUp.Events.Chunk(WarmUpPageSize))
                {
                    applier.Apply(database, new ChangePage(page, [], warmUp.Events[^1].Sequence));
                }

                Check(database, warmUp, warmUp.Revocations, engine + " warm-up");
            }

            using (var database = Prepare(warmRawStore, warmUp))
            {
                RawInserts(database, warmUp, WarmUpPageSize);
            }

            double ours;
            using (var database = Prepare(oursStore, plan))
            {
                Console.Error.WriteLine($"jukinet {engine}: durability {Durability(database)}");
                var audit = AuditOf(engine);
                // The HSM's share of the time, for the log: the keyed hash is computed in SoftHSM.
                var hmacTicks = 0L;
                byte[] TimedKey(ResidentCode code)
                {
                    var start = Stopwatch.GetTimestamp();
                    var key = residentKey(code);
                    hmacTicks += Stopwatch.GetTimestamp() - start;
                    return key;
                }

                var applier = new JukiNetFeedApplier(new CertificateRevoker(audit), audit, TimedKey, HmacKeyId);
                var pages = plan.Events.Chunk(pageSize).Select(c => new ChangePage(c, [], plan.Events[^1].Sequence)).ToList();
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var stopwatch = Stopwatch.StartNew();
                var revoked = 0;
                foreach (var page in pages)
                {
                    revoked += applier.Apply(database, page).Revocations;
                }

                stopwatch.Stop();
                ours = plan.Events.Count / stopwatch.Elapsed.TotalSeconds;
                cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
                Console.Error.WriteLine($"jukinet {engine}: applier {stopwatch.Elapsed.TotalSeconds:0.00} s ({cpu.TotalSeconds:0.00} s CPU in this process; HMAC in SoftHSM {Stopwatch.GetElapsedTime(0, hmacTicks).TotalSeconds:0.00} s), {ours:0} events/s, {revoked} revocations");
                Check(database, plan, revoked, engine);
            }

            double raw;
            using (var database = Prepare(rawStore, plan))
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var stopwatch = Stopwatch.StartNew();
                RawInserts(database, plan, pageSize);
                stopwatch.Stop();
                cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
                raw = plan.Events.Count / stopwatch.Elapsed.TotalSeconds;
                Console.Error.WriteLine($"jukinet {engine}: raw inserts {stopwatch.Elapsed.TotalSeconds:0.00} s ({cpu.TotalSeconds:0.00} s CPU in this process), {raw:0} events/s");
            }

            return Figure.Against($"jukinet.apply.{engine}", ours, "events/s", $"raw Dapper inserts of the same rows, {engine}", raw);
        }
        finally
        {
            dropOurs();
            dropRaw();
            dropWarm();
            dropWarmRaw();
        }
    }

    /// <summary>What a commit waits for on this store (the figures mean something only with the disk in the loop).</summary>
    private static string Durability(Database database)
    {
        using var connection = database.OpenConnection();
        if (database.Dialect == StoreDialect.Postgres)
        {
            var fsync = connection.QuerySingle<string>("SHOW fsync");
            var synchronousCommit = connection.QuerySingle<string>("SHOW synchronous_commit");
            return $"PostgreSQL fsync={fsync}, synchronous_commit={synchronousCommit}";
        }

        // Write transactions commit with synchronous=NORMAL and fsync the WAL before Commit returns (Database.SyncWal).
        return "SQLite WAL, fsync of the WAL before each commit returns";
    }

    /// <summary>A migrated store with the issuer key and both certificates of every resident (plain SQL, big transactions).</summary>
    private static Database Prepare(string connectionString, Plan plan)
    {
        var database = new Database(connectionString, TimeProvider.System);
        Migrator.ApplyPending(database);
        using (var tx = database.BeginWrite())
        {
            tx.Execute("INSERT INTO issuers (id, prefecture, kind, subject_dn, created_us) VALUES ('bench-issuer', '35', 'signing', 'CN=Bench', 0)");
            tx.Execute(
                """
                INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us)
                VALUES (@IssuerKeyId, 'bench-issuer', 1, 'bench', 0, @NotAfterUs, 'active', 0)
                """,
                new { IssuerKeyId, NotAfterUs = plan.NotAfterUs });
            tx.Commit();
        }

        var der = RandomNumberGenerator.GetBytes(1200);
        foreach (var chunk in plan.Certificates.Chunk(10_000))
        {
            using var tx = database.BeginWrite();
            tx.Connection.Execute(
                """
                INSERT INTO certificates (serial, issuer_key_id, kind, resident_key, hmac_key_id, juki_sequence, not_before_us, not_after_us, der, status, created_us, delivery_state)
                VALUES (@Serial, @IssuerKeyId, @Kind, @ResidentKey, @HmacKeyId, 0, 0, @NotAfterUs, @Der, 'good', 0, 'delivered')
                """,
                chunk.Select(c => new { c.Serial, IssuerKeyId, c.Kind, c.ResidentKey, HmacKeyId, plan.NotAfterUs, Der = der }),
                tx.Transaction);
            tx.Connection.Execute(
                "INSERT INTO status_changes (issuer_key_id, serial, status, reason, time_us) VALUES (@IssuerKeyId, @Serial, 'good', NULL, 0)",
                chunk.Select(c => new { IssuerKeyId, c.Serial }),
                tx.Transaction);
            tx.Commit();
        }

        if (database.Dialect == StoreDialect.Postgres)
        {
            // Fresh statistics for the planner (only a hint: the run goes on without them).
            try
            {
                using var connection = new NpgsqlConnection(connectionString);
                connection.Open();
                using var command = new NpgsqlCommand("ANALYZE certificates", connection);
                command.ExecuteNonQuery();
            }
            catch (PostgresException e)
            {
                Console.Error.WriteLine($"jukinet: ANALYZE refused ({e.SqlState}: {e.MessageText}); going on");
            }
        }

        return database;
    }

    /// <summary>The applier did what the plan says: every event once, every expected revocation, an audit record each.</summary>
    private static void Check(Database database, Plan plan, int revoked, string engine)
    {
        using var connection = database.OpenConnection();
        var recorded = connection.QuerySingle<long>("SELECT COUNT(*) FROM jukinet_events");
        var revokedRows = connection.QuerySingle<long>("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'");
        var auditRows = connection.QuerySingle<long>("SELECT COUNT(*) FROM audit_log");
        if (recorded != plan.Events.Count || revoked != plan.Revocations || revokedRows != plan.Revocations || auditRows != plan.Events.Count + plan.Revocations)
        {
            throw new InvalidOperationException(
                $"{engine}: the applier did not do what the plan says: {recorded} events recorded, {revoked}/{revokedRows} revoked, {auditRows} audit records; expected {plan.Events.Count}, {plan.Revocations}, {plan.Events.Count + plan.Revocations}");
        }
    }

    /// <summary>The baseline: the rows the applier writes, written straight with Dapper, one transaction per page.</summary>
    private static void RawInserts(Database database, Plan plan, int pageSize)
    {
        var nowUs = Instant.NowMicros(TimeProvider.System);
        var fakeHash = new string('0', 64);
        var auditSeq = 0L;
        for (var first = 0; first < plan.Events.Count; first += pageSize)
        {
            var rows = plan.Rows.Skip(first).Take(pageSize).ToList();
            using var tx = database.BeginWrite();
            var c = tx.Connection;
            var t = tx.Transaction;
            var revocations = rows.SelectMany(r => r.Revoked.Select(serial => (Row: r, Serial: serial))).ToList();
            c.Execute(
                """
                UPDATE certificates SET status = 'revoked', revoked_at_us = @NowUs, reason = @Reason, invalidity_date = '2026-11-01',
                       revocation_source = @Source, revocation_cause = @Cause
                WHERE serial = @Serial AND status = 'good'
                """,
                revocations.Select(x => new { NowUs = nowUs, x.Row.Reason, x.Row.Source, x.Row.Cause, x.Serial }),
                t);
            c.Execute(
                "INSERT INTO status_changes (issuer_key_id, serial, status, reason, time_us) VALUES (@IssuerKeyId, @Serial, 'revoked', @Reason, @NowUs)",
                revocations.Select(x => new { IssuerKeyId, x.Serial, x.Row.Reason, NowUs = nowUs }),
                t);
            c.Execute(
                """
                INSERT INTO jukinet_events (sequence, type, cause, resident_key, hmac_key_id, effective_date, received_us, applied_us, outcome, revoked_count)
                VALUES (@Sequence, @Type, @Cause, @ResidentKey, @HmacKeyId, '2026-11-01', @NowUs, @NowUs, @Outcome, @RevokedCount)
                """,
                rows.Select(r => new { r.Sequence, r.Type, r.Cause, r.ResidentKey, HmacKeyId, NowUs = nowUs, r.Outcome, RevokedCount = r.Revoked.Count }),
                t);
            var auditRows = new List<object>();
            foreach (var x in revocations)
            {
                auditRows.Add(new { Seq = ++auditSeq, NowUs = nowUs, Actor = JukiNetFeedApplier.Actor, Action = "certificate.revoked", Subject = x.Serial, Details = x.Row.RevocationDetails, Hash = fakeHash });
            }

            foreach (var r in rows)
            {
                auditRows.Add(new { Seq = ++auditSeq, NowUs = nowUs, Actor = JukiNetFeedApplier.Actor, Action = "jukinet.event-applied", Subject = r.Source, Details = r.EventDetails, Hash = fakeHash });
            }

            c.Execute(
                """
                INSERT INTO audit_log (seq, time_us, actor, action, subject, details, prev_hash, hash)
                VALUES (@Seq, @NowUs, @Actor, @Action, @Subject, @Details, @Hash, @Hash)
                """,
                auditRows,
                t);
            c.Execute("UPDATE chain_head SET seq = @Seq, hash = @Hash WHERE id = 1", new { Seq = auditSeq, Hash = fakeHash }, t);
            c.Execute("UPDATE jukinet_feed SET cursor = @Cursor, feed_last = @Last, last_event_us = @NowUs WHERE id = 1", new { Cursor = rows[^1].Sequence, Last = plan.Events[^1].Sequence, NowUs = nowUs }, t);
            tx.Commit();
        }
    }

    /// <summary>A fresh database on the server of <paramref name="server"/>, dropped afterwards.</summary>
    private static (string, Action) FreshPostgresDatabase(string server, string name)
    {
        var admin = new NpgsqlConnectionStringBuilder(server);
        if (string.IsNullOrEmpty(admin.Database))
        {
            admin.Database = "postgres";
        }

        var database = $"jpki_bench_{name}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        Admin(admin.ToString(), $"CREATE DATABASE {database}");
        var target = new NpgsqlConnectionStringBuilder(admin.ToString()) { Database = database }.ToString();
        void Drop()
        {
            NpgsqlConnection.ClearAllPools();
            Admin(admin.ToString(), $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        }

        return (target, Drop);
    }

    private static void Admin(string connectionString, string sql)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        connection.Execute(sql);
    }

    private sealed record PlannedCertificate(string Serial, string Kind, byte[] ResidentKey);

    /// <summary>What one event writes, precomputed for the raw baseline (the applier computes it itself).</summary>
    private sealed record PlannedRow(long Sequence, string Type, string Cause, byte[] ResidentKey, string Outcome, IReadOnlyList<string> Revoked, int? Reason, string Source, string EventDetails, string RevocationDetails);

    private sealed record Plan(IReadOnlyList<PlannedCertificate> Certificates, IReadOnlyList<ChangeEvent> Events, IReadOnlyList<PlannedRow> Rows, int Revocations, long NotAfterUs)
    {
        /// <summary>
        /// Residents with a signing and an authentication certificate each; events with strictly
        /// increasing sequences, odd ones revoking (name change, move out, death in turn, each
        /// resident once, in shuffled order), even ones corrections (no effect) of random residents.
        /// </summary>
        public static Plan Make(int residents, int events, Func<ResidentCode, byte[]> residentKey)
        {
            var random = new Random(5);
            var codes = Enumerable.Range(0, residents).Select(i => ResidentCode.FromFirstTen((3_500_000_000L + (i * 7L)).ToString("D10", CultureInfo.InvariantCulture))).ToArray();
            var keys = codes.Select(residentKey).ToArray();
            var certificates = new List<PlannedCertificate>(2 * residents);
            for (var i = 0; i < residents; i++)
            {
                certificates.Add(new PlannedCertificate(Serial(i, 1), "signing", keys[i]));
                certificates.Add(new PlannedCertificate(Serial(i, 2), "authentication", keys[i]));
            }

            var order = Enumerable.Range(0, residents).ToArray();
            random.Shuffle(order);
            var changes = new List<ChangeEvent>(events);
            var rows = new List<PlannedRow>(events);
            var revocations = 0;
            for (var n = 0; n < events; n++)
            {
                var sequence = n + 1L;
                var revoking = n % 2 == 0;
                var resident = revoking ? order[(n / 2) % residents] : random.Next(residents);
                var type = revoking ? RevokingTypes[(n / 2) % RevokingTypes.Length] : ChangeType.Correction;
                var change = new ChangeEvent
                {
                    Sequence = sequence,
                    ResidentCode = codes[resident],
                    Type = type,
                    EffectiveDate = Effective,
                    Name = type == ChangeType.NameChange ? "山田　花子" : null,
                };
                changes.Add(change);

                var cause = RevocationRules.CauseOf(change);
                var rule = RevocationRules.For(cause);
                var revoked = revoking && n / 2 < residents
                    ? new[] { (rule.RevokesSigning, Serial(resident, 1)), (rule.RevokesAuthentication, Serial(resident, 2)) }.Where(x => x.Item1).Select(x => x.Item2).ToList()
                    : [];
                revocations += revoked.Count;
                var source = JukiNetFeedApplier.SourceOf(sequence);
                var keyHex = Convert.ToHexStringLower(keys[resident]);
                var eventDetails = $$"""{"cause":"{{RevocationRules.WireName(cause)}}","effectiveDate":"2026-11-01","hmacKeyId":"{{HmacKeyId}}","outcome":"{{(revoked.Count > 0 ? "revoked" : "no-effect")}}","residentKey":"{{keyHex}}","revoked":[{{string.Join(',', revoked.Select(s => $"\"{s}\""))}}],"type":"{{ChangeEvent.WireName(type)}}"}""";
                var revocationDetails = $$"""{"cause":"{{RevocationRules.WireName(cause)}}","invalidityDate":"2026-11-01","issuerKeyId":"{{IssuerKeyId}}","kind":"signing","reason":"affiliationChanged","source":"{{source}}"}""";
                rows.Add(new PlannedRow(
                    sequence,
                    ChangeEvent.WireName(type),
                    RevocationRules.WireName(cause),
                    keys[resident],
                    revoked.Count > 0 ? "revoked" : "no-effect",
                    revoked,
                    rule.Reason is { } reason ? (int)reason : null,
                    source,
                    eventDetails,
                    revocationDetails));
            }

            var notAfterUs = Instant.ToMicros(DateTimeOffset.UtcNow.AddYears(5));
            return new Plan(certificates, changes, rows, revocations, notAfterUs);
        }

        private static string Serial(int resident, int kind) => "b" + resident.ToString("x8", CultureInfo.InvariantCulture) + "0" + kind.ToString(CultureInfo.InvariantCulture);
    }
}
