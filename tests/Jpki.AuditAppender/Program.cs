using System.Globalization;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hsm;

// Usage: Jpki.AuditAppender <connection-string> <count> <softhsm-conf> <module> <token> <pin-file> <key-label> <checkpoint-file> <actor> <checkpoint-every>
// Applies migrations (racing any other starter), then appends <count> records, one write
// transaction each, so that two of these running at once interleave on the writers' lock.
if (args.Length != 10)
{
    await Console.Error.WriteLineAsync("usage: Jpki.AuditAppender <connection-string> <count> <softhsm-conf> <module> <token> <pin-file> <key-label> <checkpoint-file> <actor> <checkpoint-every>");
    return 2;
}

var count = int.Parse(args[1], CultureInfo.InvariantCulture);

// The checkpoint key is a real SoftHSM key, shared with the test process and the other appender.
using var module = Pkcs11Module.Load(args[3], new Dictionary<string, string> { ["SOFTHSM2_CONF"] = args[2] });
using var token = HsmToken.Open(module, args[4], PinSource.FromFile(args[5]));
using var pool = token.CreatePool("appender", 1);
using var signer = Pkcs11Signer.Open(pool, args[6]);
var options = new AuditOptions
{
    CheckpointFilePath = args[7],
    CheckpointEveryRecords = long.Parse(args[9], CultureInfo.InvariantCulture),
    CheckpointInterval = TimeSpan.FromHours(1),
};
var actor = args[8];

using var database = new Database(args[0], TimeProvider.System);
Migrator.ApplyPending(database);
var log = new AuditLog(signer, options);

// Handshake so that the test can release both appenders at the same instant: process start-up
// takes longer than a few hundred appends, and writers that never overlap would prove nothing.
Console.WriteLine("ready");
await Console.Out.FlushAsync();
if (await Console.In.ReadLineAsync() != "go")
{
    return 3;
}

for (var i = 1; i <= count; i++)
{
    using var tx = database.BeginWrite();
    log.Append(tx, new AuditRecord(actor, "test.append", $"{actor}-{i}", new JsonObject { ["n"] = i, ["pid"] = Environment.ProcessId }));
    tx.Commit();

    // Real writers do other work between transactions. Without a pause, SQLite's busy handler
    // (which sleeps and polls) almost never catches the instant between one commit and the next
    // BEGIN IMMEDIATE, so one process would run all its appends before the other got a turn.
    await Task.Delay(3);
}

return 0;
