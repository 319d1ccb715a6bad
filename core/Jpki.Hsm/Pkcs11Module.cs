using System.Runtime.InteropServices;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace Jpki.Hsm;

/// <summary>
/// A loaded PKCS#11 module. A process loads each module once and keeps it for its lifetime:
/// C_Finalize while another part of the process still uses the module would pull the tokens
/// out from under it. Owned by whoever composes the process (the host's DI container, a
/// test assembly fixture), never a static.
/// </summary>
public sealed partial class Pkcs11Module : IDisposable
{
    private readonly IPkcs11Library _library;
    private readonly TokenStoreLock? _storeLock;

    private Pkcs11Module(string path, Pkcs11InteropFactories factories, IPkcs11Library library, TokenStoreLock? storeLock)
    {
        Path = path;
        Factories = factories;
        _library = library;
        _storeLock = storeLock;
    }

    public string Path { get; }

    internal Pkcs11InteropFactories Factories { get; }

    /// <summary>Loads the module at <paramref name="path"/> (e.g. /usr/lib/softhsm/libsofthsm2.so).</summary>
    /// <param name="moduleEnvironment">
    /// Variables the module reads with getenv when it initialises (SoftHSM's SOFTHSM2_CONF).
    /// They are set in the native environment: .NET's Environment.SetEnvironmentVariable does
    /// not reach libc, so a module would never see them.
    /// </param>
    /// <exception cref="HsmModuleNotFoundException">the file is absent or is not a PKCS#11 module.</exception>
    public static Pkcs11Module Load(string path, IReadOnlyDictionary<string, string>? moduleEnvironment = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        foreach (var (name, value) in moduleEnvironment ?? new Dictionary<string, string>())
        {
            if (SetNativeEnvironment(name, value, 1) != 0)
            {
                throw new InvalidOperationException($"setenv({name}) failed");
            }

            Environment.SetEnvironmentVariable(name, value);
        }

        if (!File.Exists(path))
        {
            throw new HsmModuleNotFoundException(path);
        }

        var factories = new Pkcs11InteropFactories();
        MapLibdl(factories);
        var storeLock = TokenStoreLock.ForModule(path, moduleEnvironment);
        try
        {
            // C_Initialize reads every token's files: under the store lock (see TokenStoreLock).
            using var held = storeLock is null ? default : storeLock.Enter();
            var library = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, path, AppType.MultiThreaded);
            return new Pkcs11Module(path, factories, library, storeLock);
        }
        catch (Exception e) when (e is UnmanagedException or DllNotFoundException or BadImageFormatException or EntryPointNotFoundException)
        {
            storeLock?.Dispose();
            throw new HsmModuleNotFoundException(path, e);
        }
        catch
        {
            storeLock?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Holds the token store's cross-process lock (a no-op for modules that are not SoftHSM)
    /// around anything that reads or writes token files; see <see cref="TokenStoreLock"/>.
    /// </summary>
    internal TokenStoreLock.Scope LockTokenStore() => _storeLock is null ? default : _storeLock.Enter();

    /// <summary>
    /// Pkcs11Interop 5.3 asks for "libdl", which glibc ≥ 2.34 only ships as libdl.so.2. The
    /// resolver can be set once per assembly; a second Load in the same process finds it set.
    /// </summary>
    private static void MapLibdl(Pkcs11InteropFactories factories)
    {
        try
        {
            NativeLibrary.SetDllImportResolver(
                factories.GetType().Assembly,
                (name, _, _) => name == "libdl" ? NativeLibrary.Load("libdl.so.2") : IntPtr.Zero);
        }
        catch (InvalidOperationException)
        {
            // Already set by an earlier load in this process.
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetNativeEnvironment(string name, string value, int overwrite);

    /// <summary>The labels of every initialised token present.</summary>
    public IReadOnlyList<string> TokenLabels()
    {
        using var held = LockTokenStore();
        return Tokens().Where(t => t.Info.TokenFlags.TokenInitialized).Select(t => t.Info.Label.Trim()).ToList();
    }

    /// <summary>
    /// The slot holding the token labelled <paramref name="tokenLabel"/>. Slots are found by
    /// label every time: SoftHSM renumbers slot ids when a token is initialised.
    /// </summary>
    internal ISlot? FindSlot(string tokenLabel)
    {
        using var held = LockTokenStore();
        foreach (var (slot, info) in Tokens())
        {
            if (info.TokenFlags.TokenInitialized && info.Label.Trim() == tokenLabel)
            {
                return slot;
            }
        }

        return null;
    }

    /// <summary>
    /// Every slot with a token that answers C_GetTokenInfo. A token whose files are broken
    /// answers CKR_GENERAL_ERROR; it must not hide the healthy tokens of the same module.
    /// </summary>
    private IEnumerable<(ISlot Slot, ITokenInfo Info)> Tokens()
    {
        foreach (var slot in _library.GetSlotList(SlotsType.WithTokenPresent))
        {
            ITokenInfo info;
            try
            {
                info = slot.GetTokenInfo();
            }
            catch (Pkcs11Exception)
            {
                continue;
            }

            yield return (slot, info);
        }
    }

    /// <summary>A slot whose token is present but not yet initialised (SoftHSM always offers one).</summary>
    internal ISlot? FindUninitialisedSlot()
    {
        using var held = LockTokenStore();
        return Tokens().Where(t => !t.Info.TokenFlags.TokenInitialized).Select(t => t.Slot).FirstOrDefault();
    }

    public void Dispose()
    {
        _library.Dispose();
        _storeLock?.Dispose();
    }
}
