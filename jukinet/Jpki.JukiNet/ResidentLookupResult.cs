namespace Jpki.JukiNet;

/// <summary>The answer of <see cref="JukiNetClient.LookupAsync"/>: found or not found; failures are exceptions.</summary>
public abstract record ResidentLookupResult;

public sealed record ResidentFound(ResidentRecord Record) : ResidentLookupResult;

/// <summary>Juki-Net holds no record for the code (ToString shows the code redacted).</summary>
public sealed record ResidentNotFound(ResidentCode ResidentCode) : ResidentLookupResult;
