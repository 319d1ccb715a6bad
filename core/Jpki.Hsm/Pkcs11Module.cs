using System.Runtime.InteropServices;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace Jpki.Hsm;

/// <summary>
/// A loaded PKCS#11 module. A process loads each module once and keeps it for its lifetime.
/// It may be finalised and initialised again in place (<see cref="Recovery"/>, for a token the
/// module lost: SoftHSM forgets a token whose directory went away until C_Initialize runs
/// again), but only under the write side of <see cref="EnterUse"/>'s gate, so no thread of the
/// process is inside the module when C_Finalize runs. Owned by whoever composes the process
/// (the host's DI container, a test assembly fixture), never a static.
/// </summary>
public sealed partial class Pkcs11Module : IDisposable
{
    private readonly TokenStoreLock? _storeLock;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly IntPtr _pinnedImage;

    // Every use of the module holds the read side; re-initialisation holds the write side.
    // Recursive: a pool operation looks objects up under the token store lock, which reads again.
    private readonly ReaderWriterLockSlim _gate = new(LockRecursionPolicy.SupportsRecursion);
    private readonly Lock _tokensLock = new();
    private readonly List<HsmToken> _tokens = [];
    private IPkcs11Library? _library;
    private string? _libraryError;
    private long _generation;

    private Pkcs11Module(string path, Pkcs11InteropFactories factories, IPkcs11Library library, TokenStoreLock? storeLock, IReadOnlyDictionary<string, string> environment, IntPtr pinnedImage)
    {
        Path = path;
        Factories = factories;
        _library = library;
        _storeLock = storeLock;
        _environment = environment;
        _pinnedImage = pinnedImage;
        Recovery = new ModuleRecovery(this);
    }

    public string Path { get; }

    /// <summary>
    /// How many times C_Initialize has run in this process: object handles and sessions of an
    /// older generation mean nothing (SoftHSM numbers handles from 1 again after C_Initialize).
    /// </summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>Whether the module is usable, and the re-initialisation that brings it back when not.</summary>
    public ModuleRecovery Recovery { get; }

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
        var pinned = IntPtr.Zero;
        try
        {
            // Our own reference to the shared object: Pkcs11Interop dlcloses it when a library
            // object is disposed, and re-initialisation must find the same image (and its
            // process-wide state) loaded, not unload and map it again under running threads.
            pinned = NativeLibrary.Load(path);

            // C_Initialize reads every token's files: under the store lock (see TokenStoreLock).
            using var held = storeLock is null ? default : storeLock.Enter();
            var library = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, path, AppType.MultiThreaded);
            return new Pkcs11Module(path, factories, library, storeLock, new Dictionary<string, string>(moduleEnvironment ?? new Dictionary<string, string>()), pinned);
        }
        catch (Exception e) when (e is UnmanagedException or DllNotFoundException or BadImageFormatException or EntryPointNotFoundException)
        {
            Release(storeLock, pinned);
            throw new HsmModuleNotFoundException(path, e);
        }
        catch
        {
            Release(storeLock, pinned);
            throw;
        }
    }

    private static void Release(TokenStoreLock? storeLock, IntPtr pinned)
    {
        storeLock?.Dispose();
        if (pinned != IntPtr.Zero)
        {
            NativeLibrary.Free(pinned);
        }
    }

    /// <summary>
    /// Holds the read side of the module's gate: no re-initialisation starts while it is held.
    /// Every call into the module happens inside one (pool operations, and everything that
    /// takes <see cref="LockTokenStore"/>).
    /// </summary>
    internal UseScope EnterUse()
    {
        _gate.EnterReadLock();
        return new UseScope(_gate);
    }

    /// <summary>Whether this thread is inside <see cref="EnterUse"/>: it must not wait for the write side.</summary>
    internal bool IsInUse => _gate.IsReadLockHeld || _gate.IsWriteLockHeld;

    internal void Attach(HsmToken token)
    {
        lock (_tokensLock)
        {
            _tokens.Add(token);
        }
    }

    internal void Detach(HsmToken token)
    {
        lock (_tokensLock)
        {
            _tokens.Remove(token);
        }
    }

    /// <summary>The tokens opened on this module and not yet disposed.</summary>
    internal IReadOnlyList<HsmToken> AttachedTokens()
    {
        lock (_tokensLock)
        {
            return [.. _tokens];
        }
    }

    /// <summary>
    /// C_Finalize and C_Initialize in place: waits up to <paramref name="drainTimeout"/> for every
    /// operation in the module to end (new ones wait), closes every pooled and anchor session,
    /// finalises, initialises again, and bumps <see cref="Generation"/>. Tokens log in again
    /// afterwards, outside this call. When C_Initialize fails the module stays finalised and
    /// every use throws <see cref="HsmModuleUnavailableException"/> until a later call succeeds.
    /// </summary>
    /// <returns>null when initialised again; otherwise why not.</returns>
    /// <exception cref="HsmModuleStuckException">an operation stayed inside the module past <paramref name="drainTimeout"/>.</exception>
    internal string? Reinitialise(TimeSpan drainTimeout)
    {
        if (!_gate.TryEnterWriteLock(drainTimeout))
        {
            throw new HsmModuleStuckException(Path, drainTimeout);
        }

        try
        {
            foreach (var token in AttachedTokens())
            {
                token.ReleaseSessions();
            }

            using var held = _storeLock is null ? default : _storeLock.Enter();
            if (_library is not null)
            {
                try
                {
                    // C_Finalize (and a dlclose that our pinned reference turns into a no-op).
                    _library.Dispose();
                }
                catch (Pkcs11Exception)
                {
                    // A module that lost its device may refuse C_Finalize; initialising again is still the way back.
                }

                _library = null;
            }

            Interlocked.Increment(ref _generation);
            foreach (var (name, value) in _environment)
            {
                // The module reads its configuration again in C_Initialize: give it the one it started with.
                _ = SetNativeEnvironment(name, value, 1);
            }

            try
            {
                _library = Factories.Pkcs11LibraryFactory.LoadPkcs11Library(Factories, Path, AppType.MultiThreaded);
                _libraryError = null;
                return null;
            }
            catch (Pkcs11Exception e)
            {
                _libraryError = $"C_Initialize failed: {e.RV}";
                return _libraryError;
            }
        }
        finally
        {
            _gate.ExitWriteLock();
        }
    }

    private IPkcs11Library Library => _library ?? throw new HsmModuleUnavailableException(Path, _libraryError ?? "not initialised");

    /// <summary>
    /// Holds the token store's cross-process lock (a no-op for modules that are not SoftHSM)
    /// around anything that reads or writes token files; see <see cref="TokenStoreLock"/>.
    /// </summary>
    internal StoreScope LockTokenStore()
    {
        var use = EnterUse();
        try
        {
            return new StoreScope(use, _storeLock is null ? default : _storeLock.Enter());
        }
        catch
        {
            use.Dispose();
            throw;
        }
    }

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
        foreach (var slot in Library.GetSlotList(SlotsType.WithTokenPresent))
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
        _library?.Dispose();
        _library = null;
        Release(_storeLock, _pinnedImage);
        _gate.Dispose();
    }

    /// <summary>One holding of the read side of the gate.</summary>
    internal readonly struct UseScope(ReaderWriterLockSlim? gate) : IDisposable
    {
        public void Dispose() => gate?.ExitReadLock();
    }

    /// <summary>The gate's read side and the token store lock, released in reverse order.</summary>
    internal readonly struct StoreScope(UseScope use, TokenStoreLock.Scope store) : IDisposable
    {
        public void Dispose()
        {
            store.Dispose();
            use.Dispose();
        }
    }
}
