using System.Security.Claims;
using Jpki.Core.Accounts;

namespace Jpki.Ca.Access;

/// <summary>An authenticated account as ASP.NET Core sees it: name, role, and one claim per bound municipality.</summary>
public static class AccountPrincipal
{
    public const string MunicipalityClaim = "urn:jpki:municipality";

    public static ClaimsPrincipal Of(Account account, string scheme)
    {
        ArgumentNullException.ThrowIfNull(account);
        List<Claim> claims = [new(ClaimTypes.Name, account.Id), new(ClaimTypes.Role, AccountStore.RoleText(account.Role))];
        claims.AddRange(account.MunicipalityCodes.Select(code => new Claim(MunicipalityClaim, code)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    /// <summary>The account the endpoint's authorization policy authenticated.</summary>
    /// <exception cref="InvalidOperationException">The endpoint allows anonymous callers (a wiring mistake, not a client error).</exception>
    public static Account Caller(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var user = context.User;
        if (user.Identity is not { IsAuthenticated: true, Name: { } id }
            || AccountStore.ParseRole(user.FindFirstValue(ClaimTypes.Role)) is not { } role)
        {
            throw new InvalidOperationException($"{context.Request.Path} has no authenticated caller: map it with an account policy");
        }

        return new Account(id, role, [.. user.FindAll(MunicipalityClaim).Select(c => c.Value)], false);
    }
}
