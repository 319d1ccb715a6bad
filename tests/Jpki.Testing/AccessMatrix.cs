using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Testing;

/// <summary>One documented row of docs/access-control.md: who may call a service's route.</summary>
public sealed record AccessRule(string Service, string Method, string Route, IReadOnlySet<string> Who)
{
    public const string Anyone = "anyone";

    /// <summary>Allowed when named or when the row says <c>anyone</c>, unless the row excludes it (<c>!credential</c>).</summary>
    public bool Allows(string credential) => !Who.Contains("!" + credential) && (Who.Contains(Anyone) || Who.Contains(credential));
}

/// <summary>
/// The documented access matrix (the table in docs/access-control.md) against what a running
/// service really maps: every endpoint in its <see cref="EndpointDataSource"/> must have a row, so
/// a new endpoint cannot be missed, and every row must name a mapped endpoint.
/// </summary>
public static partial class AccessMatrix
{
    public static IReadOnlyList<AccessRule> Documented(string service)
    {
        var path = Path.Combine(TestInstall.RepositoryRoot(), "docs", "access-control.md");
        var rules = new List<AccessRule>();
        foreach (var line in File.ReadLines(path))
        {
            var match = Row().Match(line);
            if (match.Success && match.Groups["service"].Value == service)
            {
                rules.Add(new AccessRule(
                    service,
                    match.Groups["method"].Value,
                    match.Groups["route"].Value,
                    match.Groups["who"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal)));
            }
        }

        return rules;
    }

    /// <summary>
    /// A result line for the run's summary: <c>./jpki test</c> names a file in JPKI_TEST_REPORT and
    /// prints its lines before the pass/fail count (a passing test's own output is not shown).
    /// </summary>
    public static void Report(string line)
    {
        if (Environment.GetEnvironmentVariable("JPKI_TEST_REPORT") is { Length: > 0 } path)
        {
            File.AppendAllText(path, line + Environment.NewLine);
        }
    }

    /// <summary>Every (method, route pattern) the app maps.</summary>
    public static IReadOnlyList<(string Method, string Route)> Mapped(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["ANY"]).Select(m => (m, "/" + e.RoutePattern.RawText!.Trim('/'))))
            .Distinct()
            .OrderBy(e => e.Item2, StringComparer.Ordinal)
            .ThenBy(e => e.m, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>A path for a route pattern: each parameter replaced by a value that names nothing real.</summary>
    public static string Concrete(string route) =>
        Parameter().Replace(route, match => match.Groups["constraint"].Value switch
        {
            "long" => "999999",
            _ when match.Groups["name"].Value.StartsWith("**", StringComparison.Ordinal) => "MAMCAQA=",
            _ => "matrix-none",
        }).TrimEnd('/') is { Length: > 0 } path ? path : "/";

    [GeneratedRegex(@"^\|\s*(?<service>[a-z-]+)\s*\|\s*(?<method>GET|POST|PUT|DELETE|ANY)\s*\|\s*`(?<route>[^`]+)`\s*\|\s*(?<who>[^|]+?)\s*\|")]
    private static partial Regex Row();

    [GeneratedRegex(@"\{(?<name>[^}:]+)(:(?<constraint>[^}]+))?\}")]
    private static partial Regex Parameter();
}
