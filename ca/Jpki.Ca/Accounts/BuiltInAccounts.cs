using System.Text;
using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Profiles;
using Jpki.Core.Store;

namespace Jpki.Ca.Accounts;

/// <summary>
/// The accounts the first start of a demonstration install creates (docs/design.md §9): <c>operator</c> bound to every
/// municipality of the demo prefecture, <c>officer1</c>, <c>officer2</c>, <c>auditor</c> and
/// <c>verifier</c>. Each gets a random bearer token written to
/// <c>$JPKI_HOME/secrets/&lt;account&gt;.token</c> and a random password written to
/// <c>&lt;account&gt;.password</c> (0600, directory 0700); the store keeps the token's SHA-256 and
/// the password's scrypt hash.
/// </summary>
public static class BuiltInAccounts
{
    public static IReadOnlyList<Account> All { get; } =
    [
        new("operator", AccountRole.Operator, Municipalities.Codes, false),
        new("officer1", AccountRole.Officer, [], false),
        new("officer2", AccountRole.Officer, [], false),
        new("auditor", AccountRole.Auditor, [], false),
        new("verifier", AccountRole.Verifier, [], false),
    ];

    public static string TokenPath(string home, string accountId) => Path.Combine(home, "secrets", accountId + ".token");

    public static string PasswordPath(string home, string accountId) => Path.Combine(home, "secrets", accountId + ".password");

    /// <summary>
    /// On a demonstration install (no mode recorded yet, or <see cref="InstallMode.Demo"/>), creates
    /// the built-in accounts unless the store has accounts already, records the install as a demo
    /// (<c>install.mode</c> audit record) and returns how many it created. A production install
    /// (<c>./jpki hsm init --production</c>) gets none: its ceremony handed the first credentials over.
    /// </summary>
    public static int EnsureCreated(Database database, AuditLog audit, string home, int tokenLifetimeDays)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(audit);
        using var tx = database.BeginWrite();
        if (InstallMode.Read(tx.Connection, tx.Transaction) == InstallMode.Production || AccountStore.Count(tx) > 0)
        {
            return 0;
        }

        if (InstallMode.Record(tx, InstallMode.Demo))
        {
            audit.Append(tx, new AuditRecord("system/ca", "install.mode", InstallMode.Demo, new JsonObject
            {
                ["credentialsOnDisk"] = Path.Combine(home, "secrets"),
            }));
        }

        var secrets = Path.Combine(home, "secrets");
        Directory.CreateDirectory(secrets);
        File.SetUnixFileMode(secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var account in All)
        {
            var credentials = NewCredentials.Make(tx.Time.GetUtcNow(), tokenLifetimeDays);
            AccountStore.Insert(tx, account, credentials.Stored);
            audit.Append(tx, new AuditRecord("system/ca", "account.created", account.Id, new JsonObject
            {
                ["role"] = AccountStore.RoleText(account.Role),
                ["municipalityCodes"] = new JsonArray([.. account.MunicipalityCodes.Select(c => JsonValue.Create(c))]),
                ["builtIn"] = true,
            }));
            // Written before the commit: a token file without its account is harmless (the next
            // first start overwrites it); an account whose token was never written would be unusable.
            WriteSecret(TokenPath(home, account.Id), credentials.Token);
            WriteSecret(PasswordPath(home, account.Id), credentials.Password);
        }

        tx.Commit();
        return All.Count;
    }

    private static void WriteSecret(string path, string secret)
    {
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        stream.Write(Encoding.UTF8.GetBytes(secret + "\n"));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
