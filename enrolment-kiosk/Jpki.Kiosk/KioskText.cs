namespace Jpki.Kiosk;

/// <summary>
/// Every sentence the kiosk shows, in Japanese (the default) and English. One immutable instance
/// per language; pages pick one from the language cookie.
/// </summary>
public sealed record KioskText
{
    public required string Lang { get; init; }
    public required string Title { get; init; }
    public required string SwitchLanguage { get; init; }
    public required string SwitchLanguageTarget { get; init; }
    public required string Login { get; init; }
    public required string Account { get; init; }
    public required string Password { get; init; }
    public required string Logout { get; init; }
    public required string LoginFailed { get; init; }
    public required string LoginThrottled { get; init; }

    public required string OperatorsOnly { get; init; }

    public required string CardNotYours { get; init; }
    public required string CaUnreachable { get; init; }

    /// <summary>The CA answered a 503 that will pass (its disk full, its HSM or store away): nothing was issued; try later.</summary>
    public required string CaCannotIssueNow { get; init; }

    /// <summary>The kiosk's own disk is full (its card store): nothing was issued; free space and try again (decision 0821).</summary>
    public required string KioskStorageFull { get; init; }

    /// <summary>
    /// The kiosk's own disk filled after the CA issued and before the certificates were on the card:
    /// they were revoked at once, the card holds none of them; free space and start again from the lookup.
    /// </summary>
    public required string KioskStorageFullAfterIssuance { get; init; }
    public required string SessionExpired { get; init; }
    public required string LoggedInAs { get; init; }
    public required string Menu { get; init; }
    public required string Enrol { get; init; }
    public required string Revoke { get; init; }
    public required string ResidentCode { get; init; }
    public required string ResidentCodeInvalid { get; init; }
    public required string LookUp { get; init; }
    public required string UnknownResident { get; init; }
    public required string NotEligible { get; init; }
    public required string JukiNetDown { get; init; }
    public required string NotBound { get; init; }
    public required string Facts { get; init; }
    public required string Name { get; init; }
    public required string DateOfBirth { get; init; }
    public required string Sex { get; init; }
    public required string Address { get; init; }
    public required string Municipality { get; init; }
    public required string[] SexNames { get; init; }
    public required string[] EraNames { get; init; }
    public required string FaceToFaceChecked { get; init; }
    public required string MustConfirm { get; init; }
    public required string Under15 { get; init; }
    public required string OverrideReason { get; init; }
    public required string Confirm { get; init; }
    public required string Cancel { get; init; }
    public required string SetPins { get; init; }
    public required string SigningPin { get; init; }
    public required string SigningPinRule { get; init; }
    public required string AuthenticationPin { get; init; }
    public required string AuthenticationPinRule { get; init; }
    public required string Again { get; init; }
    public required string PinsDiffer { get; init; }
    public required string SigningTooShort { get; init; }
    public required string SigningTooLong { get; init; }
    public required string SigningBadCharacters { get; init; }
    public required string AuthenticationNotFourDigits { get; init; }
    public required string Issue { get; init; }
    public required string ResidentChanged { get; init; }
    public required string IssuanceFailed { get; init; }
    public required string RevokedUndelivered { get; init; }
    public required string SweeperWillRevoke { get; init; }
    public required string CardFailed { get; init; }
    public required string Receipt { get; init; }
    public required string Print { get; init; }
    public required string Card { get; init; }
    public required string Kind { get; init; }
    public required string Serial { get; init; }
    public required string Expiry { get; init; }
    public required string SigningCertificate { get; init; }
    public required string AuthenticationCertificate { get; init; }
    public required string IssuedAt { get; init; }
    public required string Delivered { get; init; }
    public required string Cause { get; init; }
    public required string CardLost { get; init; }
    public required string NoLongerNeeded { get; init; }
    public required string SerialsOrCard { get; init; }
    public required string NoCard { get; init; }
    public required string RevokeDone { get; init; }
    public required string NotTheHolder { get; init; }
    public required string AlreadyRevoked { get; init; }
    public required string CertificateNotFound { get; init; }
    public required string Refused { get; init; }
    public required string BadRequest { get; init; }
    public required string NothingToRevoke { get; init; }
    public required string NewCard { get; init; }
    public required string CardForEnrolment { get; init; }
    public required string OldRevoked { get; init; }
    public required string CardCheck { get; init; }
    public required string Application { get; init; }
    public required string Pin { get; init; }
    public required string Check { get; init; }
    public required string PinOk { get; init; }
    public required string WrongPin { get; init; }
    public required string CardLocked { get; init; }
    public required string UnknownCard { get; init; }
    public required string CardExpired { get; init; }
    public required string CardExpires { get; init; }
    public required string CaDownAfterIssuance { get; init; }
    public required string AbandonedRevoked { get; init; }
    public required string NoCertificatesFound { get; init; }
    public required string FoundByResidentCode { get; init; }
    public required string RenewalRefused { get; init; }
    public required string AlreadyPersonalised { get; init; }
    public required string ResidentCodeCheckDigit { get; init; }
    public required string LookupUnreadable { get; init; }
    public required string NothingDoneOnCard { get; init; }
    public required string MovedOut { get; init; }
    public required string Deceased { get; init; }
    public required string Deleted { get; init; }
    public required string UnknownMunicipality { get; init; }
    public required string RoleRefused { get; init; }
    public required string RevokeConfirmTitle { get; init; }
    public required string RevokeConfirmLead { get; init; }
    public required string RevokeConfirmButton { get; init; }
    public required string RevokeCancelled { get; init; }
    public required string RevokeNothingPending { get; init; }
    public required string Validity { get; init; }
    public required string Status { get; init; }
    public required string StatusGood { get; init; }
    public required string NotRevocable { get; init; }
    public required string DateUnknown { get; init; }
    public required string StepLookup { get; init; }
    public required string StepConfirm { get; init; }
    public required string StepPins { get; init; }
    public required string StepReceipt { get; init; }
    public required string StepsLabel { get; init; }
    public required string ExistingCertificates { get; init; }
    public required string ExistingCertificatesNote { get; init; }

    public static KioskText Japanese { get; } = new()
    {
        Lang = "ja",
        Title = "公的個人認証 電子証明書 発行窓口",
        SwitchLanguage = "English",
        SwitchLanguageTarget = "en",
        Login = "ログイン",
        Account = "アカウント",
        Password = "パスワード",
        Logout = "ログアウト",
        LoginFailed = "アカウントまたはパスワードが違います。",
        OperatorsOnly = "この端末は市区町村の窓口職員（operator）専用です。このアカウントではログインできません。",
        CardNotYours = "このカードは担当外の市区町村の住民のカードです。担当の窓口で確認してください。",
        LoginThrottled = "パスワードの誤りが続いたため、次の入力まで少しお待ちください（ロックはされていません）。数秒後に再度お試しください。",
        CaUnreachable = "認証局に接続できません。何も発行されていません。時間をおいて再度お試しください。",
        CaCannotIssueNow = "認証局が一時的に発行を受け付けられない状態です。何も発行されていません。カードには何も書き込んでいません。時間をおいて、同じ暗証番号でもう一度「発行」を押してください。",
        KioskStorageFullAfterIssuance = "この端末の記憶領域がいっぱいのため、発行された証明書をカードに書き込めませんでした。その証明書は直ちに失効させました（カードには書き込まれていません）。管理者に連絡して空き容量を確保してもらった後、住民の照会からやり直してください。",
        KioskStorageFull = "この端末の記憶領域がいっぱいのため、処理を続けられませんでした。何も発行されていません。管理者に連絡して空き容量を確保してもらった後、同じ暗証番号でもう一度「発行」を押してください。",
        SessionExpired = "操作がないまま時間が経過したため、ログアウトしました。再度ログインしてください。",
        LoggedInAs = "ログイン中",
        Menu = "メニュー",
        Enrol = "電子証明書の新規発行",
        Revoke = "電子証明書の失効（紛失・不要）",
        ResidentCode = "住民票コード（11桁）",
        ResidentCodeInvalid = "住民票コードは11桁の数字です。住民票コード通知票などで確認して、11桁すべてを数字で入力してください。",
        LookUp = "照会する",
        UnknownResident = "住民基本台帳に該当する住民がいません。住民票コードを確認してください。",
        NotEligible = "この住民の記録は現在有効ではありません（転出・死亡等）。発行できません。",
        JukiNetDown = "住基ネットに接続できません。何も発行されていません。時間をおいて再度お試しください。",
        NotBound = "この住民の市区町村は、あなたのアカウントでは取り扱えません。",
        Facts = "基本4情報（本人確認書類と照合してください）",
        Name = "氏名",
        DateOfBirth = "生年月日",
        Sex = "性別",
        Address = "住所",
        Municipality = "市区町村",
        SexNames = ["", "男", "女", "不明"],
        EraNames = ["元号不明", "明治", "大正", "昭和", "平成", "令和"],
        FaceToFaceChecked = "本人確認書類と上記の4情報が一致することを確認しました",
        MustConfirm = "本人確認の確認欄にチェックを入れてください。",
        Under15 = "15歳未満のため、署名用電子証明書は発行されません（利用者証明用のみ）。発行する場合は理由を記録してください。",
        OverrideReason = "署名用を発行する理由（任意）",
        Confirm = "確認して次へ",
        Cancel = "中止",
        SetPins = "暗証番号の設定（ご本人が入力してください）",
        SigningPin = "署名用電子証明書の暗証番号",
        SigningPinRule = "英大文字（A–Z）と数字（0–9）で6～16文字",
        AuthenticationPin = "利用者証明用電子証明書の暗証番号",
        AuthenticationPinRule = "数字4桁",
        Again = "確認のためもう一度",
        PinsDiffer = "確認用の暗証番号が一致しません。",
        SigningTooShort = "署名用の暗証番号は6文字以上にしてください。",
        SigningTooLong = "署名用の暗証番号は16文字以下にしてください。",
        SigningBadCharacters = "署名用の暗証番号に使えるのは英大文字（A–Z）と数字（0–9）だけです。",
        AuthenticationNotFourDigits = "利用者証明用の暗証番号は数字4桁にしてください。",
        Issue = "カードで鍵を生成して発行する",
        ResidentChanged = "照会の後に住民の記録が変更されました。発行された証明書は認証局で失効済みで、カードには書き込まれていません。もう一度照会からやり直してください。",
        IssuanceFailed = "発行できませんでした",
        RevokedUndelivered = "発行済みでカードに書き込めなかった証明書は失効させました（引渡し前廃棄）",
        SweeperWillRevoke = "引渡しの確認を認証局に送れませんでした。確認されない証明書は一定時間後に自動的に失効します。",
        CardFailed = "カードへの書き込みに失敗しました",
        Receipt = "電子証明書 発行控え",
        Print = "印刷する",
        Card = "カード",
        Kind = "種類",
        Serial = "発行番号（シリアル）",
        Expiry = "有効期限",
        SigningCertificate = "署名用電子証明書",
        AuthenticationCertificate = "利用者証明用電子証明書",
        IssuedAt = "発行日時",
        Delivered = "カードへの格納と引渡しを確認済み",
        Cause = "理由",
        CardLost = "カードの紛失・盗難",
        NoLongerNeeded = "不要になった",
        SerialsOrCard = "失効させる証明書の発行番号（カードがある場合はカードを選択。どちらもない場合は空欄のまま：住民票コードで証明書を探して失効させます）",
        NoCard = "（カードなし）",
        RevokeDone = "失効しました",
        NotTheHolder = "住民票コードがこの証明書の名義人と一致しません。",
        AlreadyRevoked = "すでに失効しています",
        CertificateNotFound = "この発行番号の証明書はありません。",
        Refused = "受け付けられませんでした",
        BadRequest = "入力が正しくありません。",
        NothingToRevoke = "発行番号を入力するか、カードを選択してください。",
        NewCard = "新しいカード",
        CardForEnrolment = "カード（暗証番号のロック解除・再発行では、お持ちのカードを選択すると新しい鍵と証明書に入れ替え、旧証明書を失効させます）",
        OldRevoked = "旧証明書を失効させました（更新）",
        CardCheck = "カードの暗証番号確認",
        Application = "用途",
        Pin = "暗証番号",
        Check = "確認する",
        PinOk = "暗証番号は正しいです。",
        WrongPin = "暗証番号が違います。あと{0}回間違えるとロックされます。",
        CardLocked = "暗証番号がロックされています。正しい暗証番号でも使えません。窓口で暗証番号を再設定してください（新しい鍵と証明書を発行します）。",
        UnknownCard = "このカードは読み取れません。",
        CardExpired = "このカードは有効期限が切れています。新しいカードで手続きしてください。何も変更していません。",
        CardExpires = "カードの有効期限",
        AbandonedRevoked = "中断した前の手続きで発行済み・カード未書込みの証明書を失効させました（引渡し前廃棄）",
        CaDownAfterIssuance = "発行の途中で認証局に接続できなくなりました。次の証明書は発行済みですが、カードには何も書き込んでいません。認証局が復旧したら、同じ暗証番号でもう一度「発行」を押すと手続きが完了します。再試行しない場合、これらの証明書は一定時間後に自動的に失効します（引渡し前廃棄）",
        NoCertificatesFound = "この住民票コードで失効させる有効な証明書は見つかりませんでした。",
        FoundByResidentCode = "住民票コードで見つかった証明書",
        RenewalRefused = "更新する旧証明書がすでに失効しているか期限切れのため、更新できませんでした。もう一度最初から手続きしてください。",
        AlreadyPersonalised = "この手続きではすでにカードに鍵を作成しました。確認の画面には戻れません。暗証番号の入力から続けるか、照会からやり直してください。",
        ResidentCodeCheckDigit = "住民票コードの最後の桁（検査数字）が合いません。打ち間違いがないか、住民票コード通知票などで11桁を確認して、もう一度入力してください。",
        LookupUnreadable = "認証局の回答を読み取れませんでした。カードには何もしていません。もう一度照会し、続く場合はシステム担当者に連絡してください。",
        NothingDoneOnCard = "カードには何もしていません（暗証番号の入力や鍵の生成の前に確認しました）。",
        MovedOut = "この住民は転出済みのため、電子証明書は発行できません。転入先の市区町村の窓口で手続きしてください。",
        Deceased = "この住民は死亡の届出がされているため、電子証明書は発行できません。",
        Deleted = "この住民の住民票は消除されているため、電子証明書は発行できません。住民記録の担当課に確認してください。",
        UnknownMunicipality = "この住民の市区町村は、この認証局の発行対象ではありません。住所地の市区町村の窓口で手続きしてください。",
        RoleRefused = "この操作は、あなたのアカウントの役割では行えません。窓口職員（operator）のアカウントでログインしてください。",
        RevokeConfirmTitle = "失効の確認",
        RevokeConfirmLead = "次の電子証明書を失効させます。失効させた証明書は元に戻せません。ご本人と内容を確認してから「失効させる」を押してください。",
        RevokeConfirmButton = "失効させる",
        RevokeCancelled = "失効を中止しました。何も失効させていません。",
        RevokeNothingPending = "確認待ちの失効はありません。もう一度入力してください。",
        Validity = "有効期間",
        Status = "状態",
        StatusGood = "有効",
        NotRevocable = "失効の対象外",
        DateUnknown = "不詳",
        StepLookup = "照会",
        StepConfirm = "本人確認",
        StepPins = "暗証番号",
        StepReceipt = "発行控え",
        StepsLabel = "手続きの段階",
        ExistingCertificates = "この住民の有効な電子証明書",
        ExistingCertificatesNote = "新しいカードで発行しても、次の証明書は失効しません。ご本人のカードを更新する場合は下の「カード」でそのカードを選んでください（旧証明書は更新で失効します）。カードを紛失した場合は、先に失効の手続きをしてください。",
    };

    public static KioskText English { get; } = Japanese with
    {
        Lang = "en",
        Title = "JPKI certificate enrolment window",
        SwitchLanguage = "日本語",
        SwitchLanguageTarget = "ja",
        Login = "Log in",
        Account = "Account",
        Password = "Password",
        Logout = "Log out",
        LoginFailed = "Wrong account or password.",
        OperatorsOnly = "This kiosk is for municipal operators only; this account cannot log in here.",
        CardNotYours = "This card belongs to a resident of a municipality you are not assigned to; check it at that municipality's window.",
        LoginThrottled = "Too many wrong passwords: wait a few seconds before the next try (the account is not locked).",
        CaUnreachable = "The certificate authority cannot be reached. Nothing was issued. Try again later.",
        CaCannotIssueNow = "The certificate authority cannot issue at the moment. Nothing was issued and nothing was written to the card. Try again later: press Issue again with the same PINs.",
        KioskStorageFull = "This kiosk's disk is full, so the enrolment could not go on. Nothing was issued. Ask the administrator to free space, then press Issue again with the same PINs.",
        KioskStorageFullAfterIssuance = "This kiosk's disk is full, so the issued certificates could not be written to the card. They were revoked at once (nothing of them is on the card). Ask the administrator to free space, then start again from the lookup.",
        SessionExpired = "You were logged out after a period without activity. Please log in again.",
        LoggedInAs = "Logged in as",
        Menu = "Menu",
        Enrol = "Issue new certificates",
        Revoke = "Revoke certificates (lost card, no longer needed)",
        ResidentCode = "Resident code (11 digits)",
        ResidentCodeInvalid = "The resident code is 11 digits. Check it against the resident's notice of the code and enter all 11 digits.",
        LookUp = "Look up",
        UnknownResident = "No such resident in the register. Check the resident code.",
        NotEligible = "This resident's record is not current (moved out, deceased ...). No certificate can be issued.",
        JukiNetDown = "Juki-Net cannot be reached. Nothing was issued. Try again later.",
        NotBound = "Your account does not serve this resident's municipality.",
        Facts = "The four facts (compare with the identity document)",
        Name = "Name",
        DateOfBirth = "Date of birth",
        Sex = "Sex",
        Address = "Address",
        Municipality = "Municipality",
        SexNames = ["", "male", "female", "unknown"],
        EraNames = ["era unknown", "Meiji", "Taishō", "Shōwa", "Heisei", "Reiwa"],
        FaceToFaceChecked = "I checked the identity document against the four facts above",
        MustConfirm = "Tick the identity check box.",
        Under15 = "Under 15: no signing certificate is issued (authentication only), unless you record a reason.",
        OverrideReason = "Reason to issue the signing certificate (optional)",
        Confirm = "Confirm and continue",
        Cancel = "Cancel",
        SetPins = "Set the PINs (the resident types them)",
        SigningPin = "Signing certificate PIN",
        SigningPinRule = "6–16 characters, capital letters A–Z and digits 0–9",
        AuthenticationPin = "Authentication certificate PIN",
        AuthenticationPinRule = "4 digits",
        Again = "again, to confirm",
        PinsDiffer = "The confirmation PIN does not match.",
        SigningTooShort = "The signing PIN must be at least 6 characters.",
        SigningTooLong = "The signing PIN must be at most 16 characters.",
        SigningBadCharacters = "The signing PIN may contain only capital letters A–Z and digits 0–9.",
        AuthenticationNotFourDigits = "The authentication PIN must be exactly 4 digits.",
        Issue = "Generate keys on the card and issue",
        ResidentChanged = "The resident's record changed after the lookup. The certificate the CA made was revoked there and was not written to the card. Start again from the lookup.",
        IssuanceFailed = "Issuance failed",
        RevokedUndelivered = "Certificates issued but not written to the card were revoked (destroyed before delivery)",
        SweeperWillRevoke = "The delivery confirmation could not be sent to the CA. Unconfirmed certificates are revoked automatically after a while.",
        CardFailed = "Writing to the card failed",
        Receipt = "Certificate issuance receipt",
        Print = "Print",
        Card = "Card",
        Kind = "Kind",
        Serial = "Serial number",
        Expiry = "Expires",
        SigningCertificate = "Signing certificate",
        AuthenticationCertificate = "User authentication certificate",
        IssuedAt = "Issued at",
        Delivered = "Stored on the card; delivery confirmed",
        Cause = "Cause",
        CardLost = "Card lost or stolen",
        NoLongerNeeded = "No longer needed",
        SerialsOrCard = "Serial numbers to revoke (or choose the card if the resident brought it; with neither, leave both empty: the certificates are found by the resident code)",
        NoCard = "(no card)",
        RevokeDone = "revoked",
        NotTheHolder = "The resident code does not match this certificate's holder.",
        AlreadyRevoked = "already revoked",
        CertificateNotFound = "No certificate has this serial number.",
        Refused = "refused",
        BadRequest = "The input is not valid.",
        NothingToRevoke = "Enter a serial number or choose a card.",
        NewCard = "a new card",
        CardForEnrolment = "Card (to reset a locked PIN or re-issue, choose the resident's card: it gets new keys and certificates and the old ones are revoked)",
        OldRevoked = "Old certificates revoked (renewal)",
        CardCheck = "Check a card PIN",
        Application = "Application",
        Pin = "PIN",
        Check = "Check",
        PinOk = "The PIN is right.",
        WrongPin = "Wrong PIN. {0} more wrong tries lock the card.",
        CardLocked = "The PIN is locked: even the right PIN is refused. Reset the PINs at the window (new keys and certificates).",
        UnknownCard = "This card cannot be read.",
        CardExpired = "This card has expired. Use a new card. Nothing was changed.",
        CardExpires = "Card expires",
        AbandonedRevoked = "Certificates issued for the interrupted previous enrolment and never written to a card were revoked (destroyed before delivery)",
        CaDownAfterIssuance = "The certificate authority became unreachable during issuance. These certificates were issued but nothing was written to the card. When the CA is back, press Issue again with the same PINs to finish. Without a retry they are revoked automatically after a while (destroyed before delivery)",
        NoCertificatesFound = "No valid certificate to revoke was found for this resident code.",
        FoundByResidentCode = "Certificates found by the resident code",
        RenewalRefused = "The old certificate to renew has been revoked or has expired meanwhile, so it was not renewed. Please start again.",
        AlreadyPersonalised = "The keys for this enrolment are already on the card, so the confirmation cannot be changed. Continue with the PINs, or start again from the lookup.",
        ResidentCodeCheckDigit = "The last digit of the resident code (its check digit) does not match. Check the 11 digits for a typo against the resident's notice of the code, and enter it again.",
        LookupUnreadable = "The certificate authority's answer could not be read. Nothing was done on a card. Look the resident up again; if it persists, call the system administrator.",
        NothingDoneOnCard = "Nothing was done on a card (checked before any PIN or key).",
        MovedOut = "This resident has moved out: no certificate can be issued here. The resident applies at the window of the new municipality.",
        Deceased = "This resident is registered as deceased: no certificate can be issued.",
        Deleted = "This resident's record has been deleted: no certificate can be issued. Check with the resident registry section.",
        UnknownMunicipality = "This certificate authority does not issue for the resident's municipality. The resident applies at their own municipality's window.",
        RoleRefused = "Your account's role does not allow this. Log in with a municipal operator's account.",
        RevokeConfirmTitle = "Confirm the revocation",
        RevokeConfirmLead = "These certificates will be revoked. A revocation cannot be undone: check them with the resident, then press Revoke.",
        RevokeConfirmButton = "Revoke",
        RevokeCancelled = "Revocation cancelled. Nothing was revoked.",
        RevokeNothingPending = "No revocation is waiting for confirmation. Enter it again.",
        Validity = "Validity",
        Status = "Status",
        StatusGood = "valid",
        NotRevocable = "not to be revoked",
        DateUnknown = "unknown",
        StepLookup = "Look-up",
        StepConfirm = "Identity check",
        StepPins = "PINs",
        StepReceipt = "Receipt",
        StepsLabel = "Steps of the enrolment",
        ExistingCertificates = "The resident's valid certificates",
        ExistingCertificatesNote = "Issuing on a new card leaves these certificates valid. To renew the resident's own card, choose it under Card below (the old certificates are then superseded). If the card was lost, revoke them first.",
    };

    /// <summary>
    /// Why nothing may be issued, from the CA's eligibility at the lookup: the problem type the
    /// issuance would refuse with, and Juki-Net's status for a record that is not current.
    /// </summary>
    public string Ineligible(string problem, string status) => problem switch
    {
        "resident-not-eligible" => status switch
        {
            "movedOut" => MovedOut,
            "deceased" => Deceased,
            "deleted" => Deleted,
            _ => NotEligible,
        },
        "municipality-not-bound" => NotBound,
        "unknown-municipality" => UnknownMunicipality,
        _ => NotEligible,
    } + " " + NothingDoneOnCard;

    public string Describe(Jpki.Card.PinProblem problem) => problem switch
    {
        Jpki.Card.PinProblem.SigningTooShort => SigningTooShort,
        Jpki.Card.PinProblem.SigningTooLong => SigningTooLong,
        Jpki.Card.PinProblem.SigningBadCharacters => SigningBadCharacters,
        Jpki.Card.PinProblem.AuthenticationNotFourDigits => AuthenticationNotFourDigits,
        _ => "",
    };
}
