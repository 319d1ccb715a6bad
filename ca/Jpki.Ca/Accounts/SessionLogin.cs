using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Ca.Access;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.Ca.Accounts;

/// <summary>
/// <c>POST /api/v1/sessions</c> <c>{ account, password }</c> → 201 <c>{ token, expiresAt }</c>: a
/// short-lived bearer token for people (<c>accounts.sessionMinutes</c>). Wrong passwords are
/// throttled, never locked (<see cref="LoginThrottle"/>); the API token is unaffected.
/// </summary>
public sealed class SessionLogin(CaServices services, LoginThrottle throttle)
{
    private TimeSpan SessionLifetime => TimeSpan.FromMinutes(services.Settings.Accounts.SessionMinutes);

    public sealed record LoginRequest(string? Account, string? Password);

    /// <summary>A session token (a bearer credential until <c>expiresAt</c>).</summary>
    public sealed record SessionAnswer(string Token, DateTimeOffset ExpiresAt);

    public async Task<IResult> LoginAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (body, _, problem) = await ApiJson.ReadAsync<LoginRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        if (string.IsNullOrEmpty(body.Account) || body.Account.Length > 64 || string.IsNullOrEmpty(body.Password) || body.Password.Length > 1024)
        {
            return ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid request", "account and password are required");
        }

        var (token, expiresAt, refused) = await StartAsync(body.Account, body.Password, context, context.RequestAborted);
        return token is null ? refused! : Results.Json(new SessionAnswer(token, expiresAt), ApiJson.Options, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>
    /// Checks the password (throttle, audit) and makes a session token; the auditor pages log in
    /// through this too. <paramref name="context"/> receives Retry-After when the attempt is too early.
    /// </summary>
    public async Task<(string? Token, DateTimeOffset ExpiresAt, IResult? Problem)> StartAsync(string account, string password, HttpContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var now = services.Options.Time.GetUtcNow();
        var address = context.Connection.RemoteIpAddress;
        AccountStore.LoginState? login;
        await using (var db = await services.Database.OpenConnectionAsync(cancellationToken))
        {
            login = AccountStore.FindLogin(db, account);
        }

        var wait = Max(throttle.AddressWait(address), login?.NextLoginUs is { } next ? Instant.FromMicros(next) - now : TimeSpan.Zero);
        if (wait > TimeSpan.Zero)
        {
            context.Response.Headers.RetryAfter = ((long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return (null, default, ProblemTypes.Problem(429, ProblemTypes.LoginThrottled, "too many wrong passwords", "wait before the next attempt (Retry-After); the account is not locked"));
        }

        // scrypt runs outside the writers' lock (it takes ~0.1 s); the decoy keeps an unknown
        // account as slow as a wrong password.
        var matches = PasswordHash.Verify(password, login?.PasswordHash ?? PasswordHash.Decoy);
        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        login = AccountStore.FindLogin(tx.Connection, account, tx.Transaction);
        if (login is null || login.Disabled != 0 || login.PasswordHash is null || !matches)
        {
            throttle.AddressFailed(address);
            if (login is not null)
            {
                var failures = login.FailedLogins + 1;
                var delay = LoginThrottle.AccountDelay(failures);
                AccountStore.RecordFailedLogin(tx, login.Id, delay > TimeSpan.Zero ? Instant.ToMicros(now + delay) : null);
                if (failures == 3 || failures % 10 == 0)
                {
                    services.Audit.Append(tx, new AuditRecord("system/ca", "account.login-throttled", login.Id, new JsonObject
                    {
                        ["failedLogins"] = failures,
                        ["delaySeconds"] = (long)delay.TotalSeconds,
                    }));
                }

                await tx.CommitAsync(cancellationToken);
            }

            return (null, default, ProblemTypes.Problem(401, ProblemTypes.LoginFailed, "login failed", "unknown account or wrong password"));
        }

        throttle.AddressSucceeded(address);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var expiresAt = now + SessionLifetime;
        AccountStore.InsertSession(tx, login.Id, AccountStore.TokenHash(token), Instant.ToMicros(expiresAt));
        services.Audit.Append(tx, new AuditRecord(login.Id, "session.created", login.Id, new JsonObject { ["expiresUs"] = Instant.ToMicros(expiresAt) }));
        await tx.CommitAsync(cancellationToken);
        return (token, expiresAt, null);
    }

    /// <summary>
    /// <c>DELETE /api/v1/sessions/current</c>: the logout of a password session (the kiosk's, a
    /// script's). The bearer session is ended in the store, audited <c>session.ended</c> in the same
    /// transaction; an API token is not a session and is refused (409): it is rotated, not ended.
    /// </summary>
    public async Task<IResult> EndAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var header = context.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        if (AccountStore.EndSession(tx, token) is not { } account)
        {
            return ProblemTypes.Problem(409, ProblemTypes.NotASession, "not a session", "the bearer token is an account's API token, not a session: rotate it with POST /api/v1/accounts/me/token");
        }

        services.Audit.Append(tx, new AuditRecord(account, "session.ended", account, new JsonObject { ["via"] = "api" }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.NoContent();
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
