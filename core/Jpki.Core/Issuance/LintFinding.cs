namespace Jpki.Core.Issuance;

/// <summary>One broken profile rule: the rule's name and what was wrong.</summary>
public sealed record LintFinding(string Rule, string Message)
{
    public override string ToString() => $"{Rule}: {Message}";
}

/// <summary>The lint found the TBSCertificate off-profile; nothing was signed.</summary>
public sealed class LintException : Exception
{
    public LintException(IReadOnlyList<LintFinding> findings)
        : base($"pre-issuance lint failed ({findings.Count}): {string.Join("; ", findings)}")
    {
        Findings = findings;
    }

    public IReadOnlyList<LintFinding> Findings { get; }
}
