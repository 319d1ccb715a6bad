using System.Globalization;
using System.Reflection;

namespace Jpki.Core.Store;

/// <summary>
/// What a migration does to the code that runs beside it (docs/decisions/0530). Declared on the
/// first line of every script: <c>-- step: expand</c> or <c>-- step: contract</c>.
/// </summary>
public enum MigrationStep
{
    /// <summary>Adds (tables, nullable or defaulted columns, indexes, backfills): older code keeps working on the result.</summary>
    Expand,

    /// <summary>Removes or narrows something older code may still use (a column, a table, an index, a constraint).</summary>
    Contract,
}

/// <summary>One numbered script; <see cref="Sql"/> still carries the dialect tokens.</summary>
public sealed record MigrationScript(int Version, string Name, string Sql, MigrationStep Step)
{
    private const string StepMarker = "-- step:";

    /// <summary>A script from its file name (<c>NNNN_name</c>, without <c>.sql</c>) and text; the step comes from its first line.</summary>
    /// <exception cref="InvalidOperationException">The name is not <c>NNNN_name</c>, or the first line declares no step.</exception>
    public static MigrationScript Parse(string name, string sql)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(sql);
        var underscore = name.IndexOf('_', StringComparison.Ordinal);
        if (underscore <= 0 || !int.TryParse(name[..underscore], NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            throw new InvalidOperationException($"migration '{name}' is not named NNNN_name.sql");
        }

        var firstLine = sql.AsSpan().TrimStart('\uFEFF');
        var end = firstLine.IndexOfAny('\r', '\n');
        var header = (end < 0 ? firstLine : firstLine[..end]).Trim().ToString();
        if (!header.StartsWith(StepMarker, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"migration '{name}' does not begin with '-- step: expand' or '-- step: contract'");
        }

        var step = header[StepMarker.Length..].Trim() switch
        {
            "expand" => MigrationStep.Expand,
            "contract" => MigrationStep.Contract,
            var other => throw new InvalidOperationException($"migration '{name}' declares an unknown step '{other}' (expand or contract)"),
        };
        return new MigrationScript(version, name, sql, step);
    }

    /// <summary>How the ledger (<c>schema_migrations.step</c>) spells the step.</summary>
    public string StepName => Step == MigrationStep.Contract ? "contract" : "expand";
}

/// <summary>
/// The migrations a build of the code carries, in version order: the scripts embedded under
/// <c>Store/Migrations</c>, and in tests a "next version" made of them plus scripts of its own
/// (<see cref="With"/>). <see cref="CodeVersion"/> is what an instance registers in
/// <c>store_clients</c>: its code was written for every script up to it.
/// </summary>
public sealed class MigrationSet
{
    private const string ResourceMarker = ".Store.Migrations.";

    private static readonly Lazy<MigrationSet> EmbeddedScripts = new(() => new MigrationSet(LoadEmbedded()));

    private MigrationSet(IReadOnlyList<MigrationScript> scripts)
    {
        if (scripts.Count == 0)
        {
            throw new InvalidOperationException("a migration set needs at least one script");
        }

        for (var i = 1; i < scripts.Count; i++)
        {
            if (scripts[i].Version <= scripts[i - 1].Version)
            {
                throw new InvalidOperationException($"migration {scripts[i].Name} is not after {scripts[i - 1].Name} (two share a version, or out of order)");
            }
        }

        Scripts = scripts;
    }

    /// <summary>This build's scripts.</summary>
    public static MigrationSet Embedded => EmbeddedScripts.Value;

    public IReadOnlyList<MigrationScript> Scripts { get; }

    /// <summary>The highest version this code carries: the schema version it was built for.</summary>
    public int CodeVersion => Scripts[^1].Version;

    /// <summary>These scripts and <paramref name="later"/> ones (each after the last of these): the next version's set.</summary>
    public MigrationSet With(params MigrationScript[] later)
    {
        ArgumentNullException.ThrowIfNull(later);
        return new MigrationSet([.. Scripts, .. later.OrderBy(s => s.Version)]);
    }

    private static List<MigrationScript> LoadEmbedded()
    {
        var assembly = typeof(MigrationSet).Assembly;
        var scripts = new List<MigrationScript>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            var at = resource.IndexOf(ResourceMarker, StringComparison.Ordinal);
            if (at < 0 || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            scripts.Add(MigrationScript.Parse(resource[(at + ResourceMarker.Length)..^".sql".Length], ReadResource(assembly, resource)));
        }

        scripts.Sort((a, b) => a.Version.CompareTo(b.Version));
        return scripts;
    }

    private static string ReadResource(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"missing embedded resource '{resource}'");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
