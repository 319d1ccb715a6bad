using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Accounts;

/// <summary>What an account may do (docs/design.md §9).</summary>
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

/// <summary>What an account authenticates with, as stored: the API token's SHA-256 and expiry, the password's scrypt hash.</summary>
public sealed record AccountCredentials(string TokenSha256, long? TokenExpiresUs, string? PasswordHash);

/// <summary>
/// The SQL of the account aggregate. Bearer tokens are never stored: only their SHA-256, which
/// is also how a presented token is found.
/// </summary>
public static class AccountStore
{
    public static string TokenHash(string token) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>The account whose unexpired API token this is.</summary>
    public static Account? FindByToken(DbConnection db, string token, long nowUs) => FindByTokenHash(db, TokenHash(token), nowUs);

    /// <summary>The account whose unexpired API token has this SHA-256 (lowercase hex).</summary>
    public static Account? FindByTokenHash(DbConnection db, string tokenSha256, long nowUs) =>
        db.QuerySingleOrDefault<AccountRow>(
            $"SELECT {Columns} FROM accounts WHERE token_sha256 = @hash AND (token_expires_us IS NULL OR token_expires_us > @nowUs)",
            new { hash = tokenSha256, nowUs })?.ToAccount();

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

    /// <summary>An account with an API token that does not expire and no password (test and system accounts).</summary>
    public static void Insert(WriteTransaction tx, Account account, string tokenSha256) =>
        Insert(tx, account, new AccountCredentials(tokenSha256, null, null));

    public static void Insert(WriteTransaction tx, Account account, AccountCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(credentials);
        tx.Execute(
            """
            INSERT INTO accounts (id, role, municipality_codes, token_sha256, token_expires_us, password_hash, disabled, created_us)
            VALUES (@Id, @Role, @Codes, @TokenSha256, @TokenExpiresUs, @PasswordHash, @Disabled, @CreatedUs)
            """,
            new
            {
                account.Id,
                Role = RoleText(account.Role),
                Codes = JsonSerializer.Serialize(account.MunicipalityCodes),
                credentials.TokenSha256,
                credentials.TokenExpiresUs,
                credentials.PasswordHash,
                Disabled = account.Disabled ? 1 : 0,
                CreatedUs = Instant.NowMicros(tx.Time),
            });
    }

    /// <summary>
    /// An account that exists but cannot be used until its holder presents the activation code
    /// (<see cref="Activate"/>): disabled, no password, a token hash no token can have.
    /// </summary>
    public static void InsertAwaitingActivation(WriteTransaction tx, Account account, string activationSha256, long activationExpiresUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(account);
        Insert(tx, account with { Disabled = true }, new AccountCredentials("awaiting-activation:" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), null, null));
        tx.Execute(
            "UPDATE accounts SET activation_sha256 = @activationSha256, activation_expires_us = @activationExpiresUs WHERE id = @id",
            new { id = account.Id, activationSha256, activationExpiresUs });
    }

    /// <summary>
    /// Gives an account awaiting activation its holder's credentials and enables it, if the code
    /// matches and has not expired; the code works once. False otherwise (nothing changes).
    /// </summary>
    public static bool Activate(WriteTransaction tx, string id, string activationSha256, long nowUs, AccountCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(credentials);
        return tx.Execute(
            """
            UPDATE accounts SET token_sha256 = @TokenSha256, token_expires_us = @TokenExpiresUs, password_hash = @PasswordHash,
                disabled = 0, activation_sha256 = NULL, activation_expires_us = NULL, failed_logins = 0, next_login_us = NULL
            WHERE id = @id AND activation_sha256 = @activationSha256 AND activation_expires_us > @nowUs
            """,
            new { id, activationSha256, nowUs, credentials.TokenSha256, credentials.TokenExpiresUs, credentials.PasswordHash }) == 1;
    }

    /// <summary>New credentials for an account and enabled (the break-glass ceremony's officer); false if there is no such account.</summary>
    public static bool ResetCredentials(WriteTransaction tx, string id, AccountCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(credentials);
        tx.Execute("DELETE FROM sessions WHERE account = @id", new { id });
        return tx.Execute(
            """
            UPDATE accounts SET token_sha256 = @TokenSha256, token_expires_us = @TokenExpiresUs, password_hash = @PasswordHash,
                disabled = 0, activation_sha256 = NULL, activation_expires_us = NULL, failed_logins = 0, next_login_us = NULL
            WHERE id = @id
            """,
            new { id, credentials.TokenSha256, credentials.TokenExpiresUs, credentials.PasswordHash }) == 1;
    }

    /// <summary>A new API token for the account (the holder rotates it); the old one stops working at once.</summary>
    public static bool RotateToken(WriteTransaction tx, string id, string tokenSha256, long tokenExpiresUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute(
            "UPDATE accounts SET token_sha256 = @tokenSha256, token_expires_us = @tokenExpiresUs WHERE id = @id AND disabled = 0",
            new { id, tokenSha256, tokenExpiresUs }) == 1;
    }

    /// <summary>When the account's API token expires (null: it has none that expires, or no such account).</summary>
    public static long? TokenExpiresUs(DbConnection db, string id) =>
        db.QuerySingleOrDefault<long?>("SELECT token_expires_us FROM accounts WHERE id = @id", new { id });

    /// <summary>When the account was created (the dual-control rule: an approver must exist before the request).</summary>
    public static long? CreatedUs(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<long?>("SELECT created_us FROM accounts WHERE id = @id", new { id }, tx);

    /// <summary>Enabled officers, the account given excluded (the rule that at least two remain).</summary>
    public static long CountActiveOfficers(WriteTransaction tx, string? except = null)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingle<long>(
            "SELECT COUNT(*) FROM accounts WHERE role = 'officer' AND disabled = 0 AND (@except IS NULL OR id <> @except)",
            new { except });
    }

    public static bool Enable(WriteTransaction tx, string id)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute("UPDATE accounts SET disabled = 0 WHERE id = @id AND activation_sha256 IS NULL", new { id }) == 1;
    }

    /// <summary>Changes the role (and the bindings that go with it); ends the account's sessions.</summary>
    public static bool SetRole(WriteTransaction tx, string id, AccountRole role, IReadOnlyList<string> municipalityCodes)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("DELETE FROM sessions WHERE account = @id", new { id });
        return tx.Execute(
            "UPDATE accounts SET role = @role, municipality_codes = @codes WHERE id = @id",
            new { id, role = RoleText(role), codes = JsonSerializer.Serialize(municipalityCodes) }) == 1;
    }

    /// <summary>Records who brought <paramref name="account"/> to power (created, enabled or changed the role of it).</summary>
    public static void AddGrant(WriteTransaction tx, string account, string action, string requestedBy, string? approvedBy)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute(
            "INSERT INTO account_grants (account, action, requested_by, approved_by, time_us) VALUES (@account, @action, @requestedBy, @approvedBy, @timeUs)",
            new { account, action, requestedBy, approvedBy, timeUs = Instant.NowMicros(tx.Time) });
    }

    /// <summary>
    /// True when either account took part (as requester or approver) in creating, enabling or
    /// changing the role of the other: such two may not be requester and approver of one change.
    /// </summary>
    public static bool AreRelated(DbConnection db, string a, string b, DbTransaction? tx = null) =>
        db.QuerySingle<long>(
            """
            SELECT COUNT(*) FROM account_grants
            WHERE (account = @a AND (requested_by = @b OR approved_by = @b))
               OR (account = @b AND (requested_by = @a OR approved_by = @a))
            """,
            new { a, b },
            tx) > 0;

    /// <summary>The account a live session token belongs to.</summary>
    public static Account? FindBySession(DbConnection db, string token, long nowUs) =>
        db.QuerySingleOrDefault<AccountRow>(
            $"SELECT {Columns} FROM accounts WHERE id = (SELECT account FROM sessions WHERE token_sha256 = @hash AND expires_us > @nowUs)",
            new { hash = TokenHash(token), nowUs })?.ToAccount();

    /// <summary>What a password login checks.</summary>
    public static LoginState? FindLogin(DbConnection db, string id, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<LoginState>(
            "SELECT id AS Id, password_hash AS PasswordHash, failed_logins AS FailedLogins, next_login_us AS NextLoginUs, disabled AS Disabled FROM accounts WHERE id = @id",
            new { id },
            tx);

    /// <summary>Counts a wrong password; no password is tried for the account before <paramref name="nextLoginUs"/>.</summary>
    public static void RecordFailedLogin(WriteTransaction tx, string id, long? nextLoginUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("UPDATE accounts SET failed_logins = failed_logins + 1, next_login_us = @nextLoginUs WHERE id = @id", new { id, nextLoginUs });
    }

    public static void InsertSession(WriteTransaction tx, string id, string tokenSha256, long expiresUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("UPDATE accounts SET failed_logins = 0, next_login_us = NULL WHERE id = @id", new { id });
        tx.Execute(
            "INSERT INTO sessions (token_sha256, account, expires_us, created_us) VALUES (@tokenSha256, @id, @expiresUs, @createdUs)",
            new { tokenSha256, id, expiresUs, createdUs = Instant.NowMicros(tx.Time) });
    }

    /// <summary>
    /// Ends a session so that its token no longer authenticates on any instance (a logout, not just
    /// a cookie the browser forgets); the account it belonged to, or null when it was not a session.
    /// </summary>
    public static string? EndSession(WriteTransaction tx, string token)
    {
        ArgumentNullException.ThrowIfNull(tx);
        var hash = TokenHash(token);
        var account = tx.QuerySingleOrDefault<string>("SELECT account FROM sessions WHERE token_sha256 = @hash", new { hash });
        if (account is not null)
        {
            tx.Execute("DELETE FROM sessions WHERE token_sha256 = @hash", new { hash });
        }

        return account;
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

        public long? NextLoginUs { get; set; }

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
