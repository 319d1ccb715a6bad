using System.Globalization;
using System.Text;

namespace Jpki.HsmTool;

/// <summary>
/// Split knowledge of what a restore needs and a backup must never hold: the backup's age
/// identity (its private key), the token's SO PIN and user PIN. Each is split with Shamir's
/// scheme by Debian's <c>ssss-split</c> into one share per officer; any <c>threshold</c> of them
/// give it back (<c>ssss-combine</c>, also by hand on any Debian machine), fewer give nothing.
/// One share file per officer holds that officer's share of each secret
/// (decisions/0450-backup-encryption-and-escrow.md).
/// </summary>
internal static class SecretEscrow
{
    public const string AgeIdentity = "age-identity";
    public const string SoPin = "so-pin";
    public const string UserPin = "user-pin";

    /// <summary>The share files' lines: one share per secret (prefix: the secret's name), after '#' comment lines.</summary>
    public static IReadOnlyList<string> Split(IReadOnlyDictionary<string, string> secrets, int shares, int threshold)
    {
        var files = Enumerable.Range(0, shares).Select(_ => new StringBuilder()).ToList();
        foreach (var (name, secret) in secrets)
        {
            if (secret.Length is 0 or > 128 || secret.Any(char.IsControl))
            {
                throw new InvalidOperationException($"the {name} cannot be escrowed: ssss takes 1-128 printable characters");
            }

            var (stdout, _) = OutsideTool.Run(
                "ssss-split",
                ["-t", threshold.ToString(CultureInfo.InvariantCulture), "-n", shares.ToString(CultureInfo.InvariantCulture), "-w", name, "-q"],
                Encoding.UTF8.GetBytes(secret + "\n"));
            var lines = OutsideTool.Text(stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (lines.Length != shares)
            {
                throw new InvalidOperationException($"ssss-split gave {lines.Length} shares of the {name}, not {shares}");
            }

            for (var i = 0; i < shares; i++)
            {
                files[i].Append(lines[i]).Append('\n');
            }
        }

        return files.Select(f => f.ToString()).ToList();
    }

    /// <summary>
    /// Puts each secret back from the share files given (their '#' header lines name the
    /// threshold): fewer files than the threshold are refused, since ssss-combine would answer
    /// garbage rather than fail.
    /// </summary>
    public static Dictionary<string, string> Combine(IReadOnlyList<string> shareFiles)
    {
        var byName = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var threshold = 0;
        foreach (var path in shareFiles)
        {
            foreach (var line in File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0))
            {
                if (line.StartsWith("# threshold ", StringComparison.Ordinal))
                {
                    threshold = Math.Max(threshold, int.Parse(line["# threshold ".Length..].Split(' ')[0], CultureInfo.InvariantCulture));
                    continue;
                }

                if (line.StartsWith('#'))
                {
                    continue;
                }

                // "<name>-<index>-<hex>": ssss-combine is given "<index>-<hex>" (it reads a name
                // with a dash in it as a malformed share).
                var cut = line.LastIndexOf('-', line.LastIndexOf('-') - 1);
                var name = line[..cut];
                if (!byName.TryGetValue(name, out var list))
                {
                    byName[name] = list = [];
                }

                if (!list.Contains(line[(cut + 1)..]))
                {
                    list.Add(line[(cut + 1)..]);
                }
            }
        }

        if (threshold == 0 || byName.Count == 0)
        {
            throw new InvalidDataException($"no escrow shares in {string.Join(", ", shareFiles)} (made by ./jpki backup escrow)");
        }

        var secrets = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, shares) in byName)
        {
            if (shares.Count < threshold)
            {
                throw new InvalidOperationException($"{shares.Count} different share(s) of the {name}: the escrow needs {threshold} officers' shares");
            }

            var (_, stderr) = OutsideTool.Run("ssss-combine", ["-t", shares.Count.ToString(CultureInfo.InvariantCulture), "-q"], Encoding.UTF8.GetBytes(string.Join('\n', shares) + "\n"));

            // ssss-combine prints the secret on standard error, its last line.
            secrets[name] = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim();
        }

        return secrets;
    }
}
