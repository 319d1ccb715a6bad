using System.Globalization;
using Jpki.Core.Accounts;
using Jpki.Core.Profiles;
using Jpki.Core.Store;

namespace Jpki.Ca.OfficerConsole.Views;

/// <summary>How the console writes its values: Japanese first, English beside; instants in JST (via <see cref="Auditing.Views.AuditText"/>).</summary>
public static class ConsoleText
{
    public static string Role(AccountRole role) => role switch
    {
        AccountRole.Officer => "職員 officer",
        AccountRole.Auditor => "監査人 auditor",
        AccountRole.Operator => "窓口操作者 operator",
        AccountRole.Verifier => "検証者 verifier",
        _ => role.ToString(),
    };

    /// <summary>A municipality as <c>352012 山口市</c>; the code alone when the table does not know it.</summary>
    public static string Municipality(string code) => Municipalities.JapaneseName(code) is { } name ? $"{code} {name}" : code;

    public static string MunicipalityList(IReadOnlyList<string> codes) => codes.Count == 0 ? Auditing.Views.AuditText.None : string.Join(", ", codes.Select(Municipality));

    public static string Enabled(bool disabled) => disabled ? "無効 disabled" : "有効 enabled";

    public static string Action(ApprovalAction action) => action switch
    {
        ApprovalAction.AccountCreate => "アカウント作成 create account",
        ApprovalAction.AccountEnable => "アカウント有効化 enable account",
        ApprovalAction.AccountDisable => "アカウント無効化 disable account",
        ApprovalAction.AccountRole => "役割変更 change role",
        ApprovalAction.AccountMunicipalities => "市区町村変更 change municipalities",
        ApprovalAction.VerifierClientCertificate => "クライアント証明書登録 register client certificate",
        ApprovalAction.SwitchRelease => "緊急停止の解除 release kill switch",
        _ => ApprovalStore.WireName(action),
    };

    public static string State(ApprovalState state) => state switch
    {
        ApprovalState.Pending => "承認待ち pending",
        ApprovalState.Approved => "承認済み approved",
        ApprovalState.Rejected => "却下 rejected",
        _ => ApprovalStore.WireName(state),
    };

    public static string Switch(string name) => name switch
    {
        "feed" => "住基ネット連携 feed",
        "issuance" => "証明書発行 issuance",
        _ => name,
    };

    public static string Jst(long micros) => Auditing.Views.AuditText.Jst(Instant.FromMicros(micros));

    public static string Jst(long? micros) => micros is { } us ? Jst(us) : Auditing.Views.AuditText.None;

    /// <summary>Whole days from <paramref name="nowUs"/> to <paramref name="untilUs"/>; "期限切れ expired" when past.</summary>
    public static string DaysLeft(long untilUs, long nowUs) =>
        untilUs <= nowUs ? "期限切れ expired" : ((untilUs - nowUs) / 86_400_000_000L).ToString(CultureInfo.InvariantCulture) + " 日 days";
}
