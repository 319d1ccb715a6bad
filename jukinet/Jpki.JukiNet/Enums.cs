using System.Text.Json;
using System.Text.Json.Serialization;

namespace Jpki.JukiNet;

/// <summary>性別 as JPKI encodes it; a JSON number.</summary>
public enum Sex
{
    Male = 1,
    Female = 2,
    Unknown = 3,
}

/// <summary>The state of a resident's record; JSON <c>registered | movedOut | deleted | deceased</c>.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<ResidentStatus>))]
public enum ResidentStatus
{
    Registered,
    MovedOut,
    Deleted,
    Deceased,
}

/// <summary>What a change event records (異動等); JSON camelCase, e.g. <c>addressChange</c>.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<ChangeType>))]
public enum ChangeType
{
    /// <summary>転居: a new address in the same municipality.</summary>
    AddressChange,

    /// <summary>転出: moved out of the municipality (to another one or another prefecture).</summary>
    MoveOut,

    /// <summary>転入: moved into a municipality of the prefecture.</summary>
    MoveIn,

    /// <summary>氏名変更.</summary>
    NameChange,

    /// <summary>性別変更.</summary>
    SexChange,

    /// <summary>生年月日訂正.</summary>
    BirthDateCorrection,

    /// <summary>記載修正 of a field that is not one of the certified facts.</summary>
    Correction,

    /// <summary>死亡.</summary>
    Death,

    /// <summary>職権消除: the record was deleted by the municipality.</summary>
    Deletion,

    /// <summary>国外転出, with or without continued use of the card.</summary>
    Emigration,

    /// <summary>住居表示変更: the address text changed without a move.</summary>
    AddressRenumbering,
}

/// <summary>
/// Enums as camelCase strings, and only as strings: a number where a name is expected is a
/// malformed answer, not a value to guess at.
/// </summary>
public sealed class CamelCaseEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(JsonNamingPolicy.CamelCase, allowIntegerValues: false)
    where TEnum : struct, Enum;
