using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Jpki.Card;

/// <summary>
/// What the card software keeps beside the two tokens of a card: the wrong-PIN counters (SoftHSM
/// has none, the real card does), whether the card has been given its holder's PINs, and the
/// card's expiry (JST calendar date; null for a blank card that has not been given one, and in
/// state files written before cards had one). Certificates on the card end at 23:59:59 JST of
/// that day at the latest. <see cref="MunicipalityCode"/> is where its holder was registered when
/// it was personalised: only an operator of that municipality may try its PINs at the kiosk.
/// </summary>
public sealed record CardState(
    string Label,
    DateTimeOffset CreatedAt,
    int SigningWrongTries,
    int AuthenticationWrongTries,
    bool Personalised,
    DateOnly? Expires = null,
    string? MunicipalityCode = null)
{
    public int WrongTries(CardApplication application) =>
        application == CardApplication.Signing ? SigningWrongTries : AuthenticationWrongTries;

    public CardState WithWrongTries(CardApplication application, int tries) =>
        application == CardApplication.Signing ? this with { SigningWrongTries = tries } : this with { AuthenticationWrongTries = tries };

    public bool IsLocked(CardApplication application) => WrongTries(application) >= PinRules.MaxWrongTries(application);
}

/// <summary>
/// The directory of card state files ({home}/cards): one JSON state per card and the card's
/// security-officer PIN (the issuer's key for setting and resetting the holder's PINs), both
/// 0600 in a 0700 directory. The tokens themselves live in whatever SoftHSM store the process's
/// module was loaded with (<see cref="SoftHsmConfPath"/> for the kiosk and the CLI).
/// </summary>
public sealed partial class CardStore
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public CardStore(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }

    /// <summary>The card store of an install: {home}/cards.</summary>
    public static CardStore ForHome(string home) => new(Path.Combine(home, "cards"));

    /// <summary>The SoftHSM configuration of the cards ({home}/cards/softhsm2.conf), separate from the CA's HSM.</summary>
    public string SoftHsmConfPath => Path.Combine(Directory, "softhsm2.conf");

    /// <summary>
    /// Creates the directory (0700) and, if absent, a SoftHSM configuration with its own token
    /// directory ({home}/cards/tokens); returns the variables to load the module with.
    /// </summary>
    public IReadOnlyDictionary<string, string> EnsureSoftHsmConfiguration()
    {
        EnsureDirectory();
        if (!File.Exists(SoftHsmConfPath))
        {
            var tokens = Path.Combine(Directory, "tokens");
            System.IO.Directory.CreateDirectory(tokens);
            File.SetUnixFileMode(tokens, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.WriteAllText(SoftHsmConfPath, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        }

        return new Dictionary<string, string> { ["SOFTHSM2_CONF"] = SoftHsmConfPath };
    }

    public void EnsureDirectory()
    {
        System.IO.Directory.CreateDirectory(Directory);
        File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>A new card label: CARD- and 8 random hex digits (token labels add -S and -A, well inside 32 characters).</summary>
    public static string NewLabel() => "CARD-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4));

    public static bool IsLabel(string label) => LabelPattern().IsMatch(label);

    /// <summary>Every card with a state file, in label order.</summary>
    public IReadOnlyList<string> Labels() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.GetFiles(Directory, "CARD-*.json").Select(p => Path.GetFileNameWithoutExtension(p)!).Where(IsLabel).Order(StringComparer.Ordinal).ToList()
            : [];

    public bool Exists(string label) => IsLabel(label) && File.Exists(StatePath(label));

    /// <exception cref="CardNotFoundException">no such card.</exception>
    public CardState Load(string label)
    {
        if (!Exists(label))
        {
            throw new CardNotFoundException(label);
        }

        return JsonSerializer.Deserialize<CardState>(File.ReadAllText(StatePath(label)), JsonOptions)
            ?? throw new CardStateException($"card '{label}' has an empty state file");
    }

    /// <summary>Writes the state through a temporary file and a rename, so a crash never leaves half a counter.</summary>
    public void Save(CardState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var path = StatePath(state.Label);
        var temporary = path + ".tmp";
        WriteOrRemove(temporary, () => File.WriteAllText(temporary, JsonSerializer.Serialize(state, JsonOptions)));
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, path, overwrite: true);
    }

    internal void SaveSecurityOfficerPin(string label, byte[] soPin)
    {
        var path = SecurityOfficerPinPath(label);
        WriteOrRemove(path, () => File.WriteAllBytes(path, soPin));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Removes what <see cref="SaveSecurityOfficerPin"/> wrote for a card that could not be made.</summary>
    internal void RemoveSecurityOfficerPin(string label) => File.Delete(SecurityOfficerPinPath(label));

    private string SecurityOfficerPinPath(string label) => Path.Combine(Directory, label + ".so.pin");

    /// <summary>
    /// Writes a new file; on a full disk the cut file is removed (no half-written PIN or state stays)
    /// and <see cref="CardStoreFullException"/> says so.
    /// </summary>
    private static void WriteOrRemove(string path, Action write)
    {
        try
        {
            write();
        }
        catch (IOException e) when (CardStoreFullException.IsOutOfSpace(e))
        {
            File.Delete(path);
            throw new CardStoreFullException(path, e);
        }
    }

    internal byte[] ReadSecurityOfficerPin(string label) => File.ReadAllBytes(Path.Combine(Directory, label + ".so.pin"));

    private string StatePath(string label) => Path.Combine(Directory, label + ".json");

    [GeneratedRegex("^CARD-[0-9A-F]{8}$")]
    private static partial Regex LabelPattern();
}
