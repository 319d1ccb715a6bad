namespace Jpki.HsmTool;

/// <summary>Why <c>hsm rollover</c> refused (exit 2); <see cref="Code"/> is stable for scripts and the runbook.</summary>
public sealed class RolloverRefusedException(string code, string message) : Exception(message)
{
    /// <summary>unknown-issuer, invalid-time, switch-too-early, rollover-in-progress, switch-pending, nothing-to-resume.</summary>
    public string Code { get; } = code;
}
