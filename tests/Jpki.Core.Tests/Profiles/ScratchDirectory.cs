using System.Diagnostics;

namespace Jpki.Core.Tests.Profiles;

/// <summary>A scratch directory for PEM files handed to the checkers, removed afterwards.</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory() => Path = Directory.CreateTempSubdirectory("jpki-profiles-").FullName;

    public string Path { get; }

    public string WritePem(string fileName, byte[] certificateDer)
    {
        var path = System.IO.Path.Combine(Path, fileName);
        File.WriteAllText(path, new string(System.Security.Cryptography.PemEncoding.Write("CERTIFICATE", certificateDer)) + "\n");
        return path;
    }

    public string WriteBytes(string fileName, byte[] content)
    {
        var path = System.IO.Path.Combine(Path, fileName);
        File.WriteAllBytes(path, content);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
