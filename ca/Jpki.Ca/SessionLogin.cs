using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.Ca;

/// <summary>
/// <c>POST /api/v1/sessions</c> <c>{ account, password }</c> → 201 <c>{ token, expiresAt }</c>: a
/// short-lived bearer token for people. <see cref="MaxFailures"/> wrong passwords in a row lock
/// the password login for <see cref="LockoutDuration"/> (audited); the API token is unaffected.
/// </summary>
public sealed class SessionLogin(CaServices services)
{
    public const int MaxFailures = 5;
    public static readonly TimeSpan LockoutDuration = TimeSpan.FromMinutes(15);
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromMinutes(30);

    private static bool IsLocked(AccountStore.LoginState? login, DateTimeOffset now, out TimeSpan remaining)
    {
        remaining = login is { LockedUntilUs: { } until } ? Instant.FromMicros(until) - now : TimeSpan.Zero;
        return remaining > TimeSpan.Zero;
    }

    public sealed record LoginRequest(string? Account, string? Password);

    public async Task<IResult> LoginAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (body, _, problem) = await ApiJson.ReadAsync<LoginRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        if (string.IsNullOrEmpty(body.Account) || string.IsNullOrEmpty(body.Password) || body.Password.Length > 1024)
        {
            return ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid request", "account and password are required");
        }

        var (token, expiresAt, refused) = await StartAsync(body.Account, body.Password, context, context.RequestAborted);
        return token is null ? refused! : Results.Json(new { token, expiresAt }, ApiJson.Options, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>
    /// Checks the password (lockout, audit) and makes a session token; the auditor pages log in
    /// through this too. <paramref name="context"/> receives Retry-After when the login is locked.
    /// </summary>
    public async Task<(string? Token, DateTimeOffset ExpiresAt, IResult? Problem)> StartAsync(string account, string password, HttpContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var now = services.Options.Time.GetUtcNow();
        AccountStore.LoginState? login;
        await using (var db = await services.Database.OpenConnectionAsync(cancellationToken))
        {
            login = AccountStore.FindLogin(db, account);
        }

        if (IsLocked(login, now, out var lockedFor))
        {
            context.Response.Headers.RetryAfter = ((long)Math.Ceiling(lockedFor.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return (null, default, ProblemTypes.Problem(429, ProblemTypes.AccountLocked, "login locked", "too many wrong passwords; try again later"));
        }

        // scrypt runs outside the writers' lock (it takes ~0.1 s); the decoy keeps an unknown
        // account as slow as a wrong password.
        var matches = PasswordHash.Verify(password, login?.PasswordHash ?? PasswordHash.Decoy);
        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        login = AccountStore.FindLogin(tx.Connection, account, tx.Transaction);
        if (IsLocked(login, now, out _) || login is null || login.Disabled != 0 || login.PasswordHash is null || !matches)
        {
            if (login is not null && !IsLocked(login, now, out _))
            {
                var locks = login.FailedLogins + 1 >= MaxFailures;
                AccountStore.RecordFailedLogin(tx, login.Id, locks ? Instant.ToMicros(now + LockoutDuration) : null);
                if (locks)
                {
                    services.Audit.Append(tx, new AuditRecord("system/ca", "account.locked", login.Id, new JsonObject
                    {
                        ["failedLogins"] = MaxFailures,
                        ["lockedUntilUs"] = Instant.ToMicros(now + LockoutDuration),
                    }));
                }

                await tx.CommitAsync(cancellationToken);
            }

            return (null, default, ProblemTypes.Problem(401, ProblemTypes.LoginFailed, "login failed", "unknown account or wrong password"));
        }

        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var expiresAt = now + SessionLifetime;
        AccountStore.InsertSession(tx, login.Id, AccountStore.TokenHash(token), Instant.ToMicros(expiresAt));
        services.Audit.Append(tx, new AuditRecord(login.Id, "session.created", login.Id, new JsonObject { ["expiresUs"] = Instant.ToMicros(expiresAt) }));
        await tx.CommitAsync(cancellationToken);
        return (token, expiresAt, null);
    }
}
