//! Money as the domains keep it: integer minor units of an ISO 4217 currency.

/// The largest price or amount a domain stores: 10^12 minor units (ten billion of a
/// two-decimal currency). Times the largest quantity (10,000) and the most lines of an
/// order, a total still fits a signed 64-bit integer; totals are added with checks anyway.
pub const MAX_MINOR_UNITS: i64 = 1_000_000_000_000;

/// Active ISO 4217 currency codes (funds, precious metals and test codes left out).
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// The schema of a currency field: one of the codes above (lower case is taken too).
pub fn currency_schema() -> utoipa::openapi::Object {
    crate::platform::openapi::string_enum(CURRENCIES.iter().copied(), "An ISO 4217 currency code")
}

/// Whether `code` (upper case) is a currency a price may be in.
pub fn is_currency(code: &str) -> bool {
    CURRENCIES.binary_search(&code).is_ok()
}

/// Digits after the decimal point in `currency` (ISO 4217): most have 2.
pub fn minor_digits(currency: &str) -> u32 {
    const NONE: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
        "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    let code = currency.to_ascii_uppercase();
    if NONE.contains(&code.as_str()) {
        0
    } else if THREE.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// Minor units as a reader expects them: `12999`, `EUR` -> `129.99 EUR`; `1500`, `JPY` ->
/// `1500 JPY`.
pub fn format_amount(total: i64, currency: &str) -> String {
    let sign = if total < 0 { "-" } else { "" };
    let total = total.unsigned_abs();
    match minor_digits(currency) {
        0 => format!("{sign}{total} {currency}"),
        digits => {
            let unit = 10u64.pow(digits);
            let width = digits as usize;
            format!("{sign}{}.{:0width$} {currency}", total / unit, total % unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_have_their_currencys_decimals() {
        assert_eq!(format_amount(12999, "EUR"), "129.99 EUR");
        assert_eq!(format_amount(5, "USD"), "0.05 USD");
        assert_eq!(format_amount(-150, "GBP"), "-1.50 GBP");
        assert_eq!(format_amount(1500, "JPY"), "1500 JPY");
        assert_eq!(format_amount(12345, "KWD"), "12.345 KWD");
        assert_eq!(format_amount(7, "bhd"), "0.007 bhd");
    }

    #[test]
    fn only_real_currencies_are_currencies() {
        assert!(
            CURRENCIES.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats"
        );
        for code in ["EUR", "USD", "JPY", "CHF", "ZAR", "AED"] {
            assert!(is_currency(code), "{code}");
        }
        for code in ["ZZZ", "XXX", "XAU", "eur", "EURO", ""] {
            assert!(!is_currency(code), "{code}");
        }
    }

    #[test]
    fn the_largest_order_total_fits() {
        let lines = 100i64;
        assert!(MAX_MINOR_UNITS
            .checked_mul(10_000)
            .and_then(|line| line.checked_mul(lines))
            .is_some());
    }
}
