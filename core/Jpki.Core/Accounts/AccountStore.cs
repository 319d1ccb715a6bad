using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Accounts;

/// <summary>What an account may do (DESIGN.md §9).</summary>
public enum AccountRole
{
    Operator,
    Officer,
    Auditor,
    Verifier,
}

/// <summary>An API account as the CA sees it after authentication.</summary>
public sealed record Account(string Id, AccountRole Role, IReadOnlyList<string> MunicipalityCodes, bool Disabled)
{
    public bool IsBoundTo(string municipalityCode) => MunicipalityCodes.Contains(municipalityCode, StringComparer.Ordinal);
}

/// <summary>
/// The SQL of the account aggregate. Bearer tokens are never stored: only their SHA-256, which
/// is also how a presented token is found.
/// </summary>
public static class AccountStore
{
    public static string TokenHash(string token) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public static Account? FindByToken(DbConnection db, string token) => FindByTokenHash(db, TokenHash(token));

    /// <summary>The account whose token has this SHA-256 (lowercase hex).</summary>
    public static Account? FindByTokenHash(DbConnection db, string tokenSha256) =>
        db.QuerySingleOrDefault<AccountRow>(
            $"SELECT {Columns} FROM accounts WHERE token_sha256 = @hash",
            new { hash = tokenSha256 })?.ToAccount();

    public static Account? Find(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<AccountRow>($"SELECT {Columns} FROM accounts WHERE id = @id", new { id }, tx)?.ToAccount();

    /// <summary>Every account with <paramref name="role"/>, disabled ones included, by id.</summary>
    public static IReadOnlyList<Account> ListByRole(DbConnection db, AccountRole role) =>
        db.Query<AccountRow>($"SELECT {Columns} FROM accounts WHERE role = @role ORDER BY id", new { role = RoleText(role) })
            .Select(r => r.ToAccount())
            .ToList();

    public static long Count(WriteTransaction tx)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingle<long>("SELECT COUNT(*) FROM accounts");
    }

    public static void Insert(WriteTransaction tx, Account account, string tokenSha256, string? passwordHash = null)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(account);
        tx.Execute(
            """
            INSERT INTO accounts (id, role, municipality_codes, token_sha256, password_hash, disabled, created_us)
            VALUES (@Id, @Role, @Codes, @TokenSha256, @PasswordHash, @Disabled, @CreatedUs)
            """,
            new
            {
                account.Id,
                Role = RoleText(account.Role),
                Codes = JsonSerializer.Serialize(account.MunicipalityCodes),
                TokenSha256 = tokenSha256,
                PasswordHash = passwordHash,
                Disabled = account.Disabled ? 1 : 0,
                CreatedUs = Instant.NowMicros(tx.Time),
            });
    }

    /// <summary>The account a live session token belongs to.</summary>
    public static Account? FindBySession(DbConnection db, string token, long nowUs) =>
        db.QuerySingleOrDefault<AccountRow>(
            $"SELECT {Columns} FROM accounts WHERE id = (SELECT account FROM sessions WHERE token_sha256 = @hash AND expires_us > @nowUs)",
            new { hash = TokenHash(token), nowUs })?.ToAccount();

    /// <summary>What a password login checks.</summary>
    public static LoginState? FindLogin(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<LoginState>(
            "SELECT id AS Id, password_hash AS PasswordHash, failed_logins AS FailedLogins, locked_until_us AS LockedUntilUs, disabled AS Disabled FROM accounts WHERE id = @id",
            new { id },
            tx);

    public static void RecordFailedLogin(WriteTransaction tx, string id, long? lockedUntilUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute(
            lockedUntilUs is null
                ? "UPDATE accounts SET failed_logins = failed_logins + 1 WHERE id = @id"
                : "UPDATE accounts SET failed_logins = 0, locked_until_us = @lockedUntilUs WHERE id = @id",
            new { id, lockedUntilUs });
    }

    public static void InsertSession(WriteTransaction tx, string id, string tokenSha256, long expiresUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("UPDATE accounts SET failed_logins = 0, locked_until_us = NULL WHERE id = @id", new { id });
        tx.Execute(
            "INSERT INTO sessions (token_sha256, account, expires_us, created_us) VALUES (@tokenSha256, @id, @expiresUs, @createdUs)",
            new { tokenSha256, id, expiresUs, createdUs = Instant.NowMicros(tx.Time) });
    }

    /// <summary>Replaces an account's municipality bindings; false if there is no such account.</summary>
    public static bool Bind(WriteTransaction tx, string id, IReadOnlyList<string> municipalityCodes)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute("UPDATE accounts SET municipality_codes = @codes WHERE id = @id", new { id, codes = JsonSerializer.Serialize(municipalityCodes) }) == 1;
    }

    /// <summary>Disables an account and ends its sessions; false if there is no such account.</summary>
    public static bool Disable(WriteTransaction tx, string id)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("DELETE FROM sessions WHERE account = @id", new { id });
        return tx.Execute("UPDATE accounts SET disabled = 1 WHERE id = @id", new { id }) == 1;
    }

    public static AccountRole? ParseRole(string? text) => text switch
    {
        "operator" => AccountRole.Operator,
        "officer" => AccountRole.Officer,
        "auditor" => AccountRole.Auditor,
        "verifier" => AccountRole.Verifier,
        _ => null,
    };

    public static string RoleText(AccountRole role) => role switch
    {
        AccountRole.Operator => "operator",
        AccountRole.Officer => "officer",
        AccountRole.Auditor => "auditor",
        AccountRole.Verifier => "verifier",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    public sealed class LoginState
    {
        public string Id { get; set; } = "";

        public string? PasswordHash { get; set; }

        public long FailedLogins { get; set; }

        public long? LockedUntilUs { get; set; }

        public long Disabled { get; set; }
    }

    private const string Columns = "id AS Id, role AS Role, municipality_codes AS MunicipalityCodes, disabled AS Disabled";

    private sealed class AccountRow
    {
        public string Id { get; set; } = "";

        public string Role { get; set; } = "";

        public string MunicipalityCodes { get; set; } = "[]";

        public long Disabled { get; set; }

        public Account ToAccount() => new(
            Id,
            ParseRole(Role) ?? throw new FormatException($"account '{Id}' has unknown role '{Role}'"),
            JsonSerializer.Deserialize<string[]>(MunicipalityCodes) ?? [],
            Disabled != 0);
    }
}
