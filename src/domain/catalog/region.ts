// Country (ISO 3166-1 alpha-2, upper case) of a provider region, or null when the name does not say.
// The region decides; the zone is consulted only when the region alone resolves to nothing.

// Officially assigned ISO 3166-1 alpha-2 codes.
const ISO_CODES = new Set(
  ("AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
    "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
    "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
    "KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
    "MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
    "UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW").split(" "),
);

// Named cloud regions outside the "us-" prefix (which is always the United States).
const NAMED_REGIONS: Record<string, string> = {
  // AWS
  "af-south-1": "ZA", "ap-east-1": "HK", "ap-east-2": "TW", "ap-northeast-1": "JP", "ap-northeast-2": "KR",
  "ap-northeast-3": "JP", "ap-south-1": "IN", "ap-south-2": "IN", "ap-southeast-1": "SG", "ap-southeast-2": "AU",
  "ap-southeast-3": "ID", "ap-southeast-4": "AU", "ap-southeast-5": "MY", "ap-southeast-7": "TH", "ca-central-1": "CA",
  "ca-west-1": "CA", "cn-north-1": "CN", "cn-northwest-1": "CN", "eu-central-1": "DE", "eu-central-2": "CH",
  "eu-north-1": "SE", "eu-south-1": "IT", "eu-south-2": "ES", "eu-west-1": "IE", "eu-west-2": "GB", "eu-west-3": "FR",
  "il-central-1": "IL", "me-central-1": "AE", "me-south-1": "BH", "mx-central-1": "MX", "sa-east-1": "BR",
  // GCP
  "africa-south1": "ZA", "asia-east1": "TW", "asia-east2": "HK", "asia-northeast1": "JP", "asia-northeast2": "JP",
  "asia-northeast3": "KR", "asia-south1": "IN", "asia-south2": "IN", "asia-southeast1": "SG", "asia-southeast2": "ID",
  "australia-southeast1": "AU", "australia-southeast2": "AU", "europe-central2": "PL", "europe-north1": "FI",
  "europe-north2": "SE", "europe-southwest1": "ES", "europe-west1": "BE", "europe-west2": "GB", "europe-west3": "DE",
  "europe-west4": "NL", "europe-west6": "CH", "europe-west8": "IT", "europe-west9": "FR", "europe-west10": "DE",
  "europe-west12": "IT", "me-central1": "QA", "me-central2": "SA", "me-west1": "IL", "northamerica-northeast1": "CA",
  "northamerica-northeast2": "CA", "northamerica-south1": "MX", "southamerica-east1": "BR", "southamerica-west1": "CL",
  // Azure
  "australiacentral": "AU", "australiacentral2": "AU", "australiaeast": "AU", "australiasoutheast": "AU",
  "brazilsouth": "BR", "brazilsoutheast": "BR", "canadacentral": "CA", "canadaeast": "CA", "centralindia": "IN",
  "eastasia": "HK", "francecentral": "FR", "francesouth": "FR", "germanynorth": "DE", "germanywestcentral": "DE",
  "israelcentral": "IL", "italynorth": "IT", "japaneast": "JP", "japanwest": "JP", "koreacentral": "KR",
  "koreasouth": "KR", "mexicocentral": "MX", "newzealandnorth": "NZ", "northeurope": "IE", "norwayeast": "NO",
  "norwaywest": "NO", "polandcentral": "PL", "qatarcentral": "QA", "southafricanorth": "ZA", "southafricawest": "ZA",
  "southeastasia": "SG", "southindia": "IN", "spaincentral": "ES", "swedencentral": "SE", "switzerlandnorth": "CH",
  "switzerlandwest": "CH", "uaecentral": "AE", "uaenorth": "AE", "uksouth": "GB", "ukwest": "GB", "westeurope": "NL",
  "westindia": "IN",
  // Lambda (its own names; "europe-south-1" has no published location and stays unknown)
  "asia-northeast-1": "JP", "asia-northeast-2": "JP", "asia-south-1": "IN", "australia-east-1": "AU",
  "australia-southeast-1": "AU", "europe-central-1": "DE", "me-west-1": "IL",
  // Nebius and Crusoe zones seen behind Prime Intellect
  "eu-north1": "FI", "eu-west1": "FR", "eu-iceland1": "IS",
};

// Country words in names like Shadeform's "helsinki-finland-1" or Hyperstack's "CANADA-1".
export const COUNTRY_WORDS: Readonly<Record<string, string>> = {
  usa: "US", canada: "CA", mexico: "MX", brazil: "BR", chile: "CL", argentina: "AR", colombia: "CO", uk: "GB",
  england: "GB", ireland: "IE", france: "FR", germany: "DE", netherlands: "NL", belgium: "BE", switzerland: "CH",
  austria: "AT", italy: "IT", spain: "ES", portugal: "PT", poland: "PL", czechia: "CZ", romania: "RO", bulgaria: "BG",
  hungary: "HU", finland: "FI", sweden: "SE", norway: "NO", denmark: "DK", iceland: "IS", estonia: "EE", israel: "IL",
  uae: "AE", india: "IN", japan: "JP", korea: "KR", taiwan: "TW", hongkong: "HK", singapore: "SG", thailand: "TH",
  vietnam: "VN", indonesia: "ID", malaysia: "MY", australia: "AU", newzealand: "NZ", southafrica: "ZA",
};

// Continent codes Vast appends; NA, SA, AS and AF are also countries, so one is read as a continent only
// when a two-letter code stands before it ("Windhoek, Khomas, NA" is Namibia).
const CONTINENTS = new Set(["AF", "AN", "AS", "EU", "NA", "OC", "SA"]);

const AZURE_US = /^(?:east|west|central|northcentral|southcentral|westcentral)us\d?$/;

function iso(code: string | undefined): string | null {
  const upper = code?.trim().toUpperCase();
  if (upper === "UK") return "GB";
  return upper && ISO_CODES.has(upper) ? upper : null;
}

function countryOf(name: string): string | null {
  const text = name.trim();
  if (!text) return null;
  // "Ashburn, VA, US" ends in the country; Vast's "Quebec, CA, NA" / ", CN, AS" add a continent after it.
  if (text.includes(",")) {
    const parts = text.split(",").map((part) => part.trim());
    const [before = "", last = ""] = parts.slice(-2);
    return iso(parts.length >= 3 && CONTINENTS.has(last.toUpperCase()) && /^[a-z]{2}$/i.test(before) ? before : last);
  }
  // RunPod and Prime Intellect give the country code itself.
  if (/^[a-z]{2}$/i.test(text)) return iso(text);
  const lower = text.toLowerCase();
  // Zones ("us-east-1a", "europe-west4-b", "us-east1-a") fall back to their region.
  const region = lower.replace(/(\d)-?[a-z]$/, "$1");
  const named = NAMED_REGIONS[lower] ?? NAMED_REGIONS[region];
  if (named) return named;
  if (lower.startsWith("us-") || AZURE_US.test(lower)) return "US";
  // RunPod zones: "EU-RO-1", "AP-JP-1", "US-TX-3" (a US state), "CA-MTL-1" (a Canadian city).
  const zone = /^([a-z]{2,3})-([a-z]{2,3})-\d+$/.exec(lower);
  if (zone) {
    const [, area = "", place = ""] = zone;
    if (area === "us") return "US";
    return (place.length === 2 ? iso(place) : null) ?? (area.length === 2 ? iso(area) : null);
  }
  const worded = /^(?:[a-z]+-)?([a-z]+)-\d+$/.exec(lower);
  return (worded && COUNTRY_WORDS[worded[1] ?? ""]) || null;
}

export function countryForRegion(region: string, zone?: string | null): string | null {
  return countryOf(region) ?? (zone ? countryOf(zone) : null);
}
