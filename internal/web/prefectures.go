package web

// prefecture is one of Japan's 47 prefectures as a tile of the dashboard's
// map: a tile-grid map places each prefecture on a square of a grid, in
// roughly its place, so it needs no boundary geometry (and no licence for
// one) and every tile is the same size, whatever the prefecture's area —
// Tokyo, with a tenth of the country's organisations, is as visible as
// Hokkaido.
type prefecture struct {
	// Code is the two-digit prefecture code (JIS X 0401), the first two
	// digits of every local government code in it.
	Code   string
	NameJa string // short name, as on a tile: 北海道, 青森, 東京 …
	NameEn string
	X, Y   int // the tile's column and row
}

// prefectures are the tiles, in code order.
var prefectures = []prefecture{
	{"01", "北海道", "Hokkaido", 12, 0},
	{"02", "青森", "Aomori", 12, 1},
	{"03", "岩手", "Iwate", 12, 2},
	{"04", "宮城", "Miyagi", 12, 3},
	{"05", "秋田", "Akita", 11, 2},
	{"06", "山形", "Yamagata", 11, 3},
	{"07", "福島", "Fukushima", 12, 4},
	{"08", "茨城", "Ibaraki", 12, 6},
	{"09", "栃木", "Tochigi", 12, 5},
	{"10", "群馬", "Gunma", 11, 5},
	{"11", "埼玉", "Saitama", 11, 6},
	{"12", "千葉", "Chiba", 12, 7},
	{"13", "東京", "Tokyo", 11, 7},
	{"14", "神奈川", "Kanagawa", 10, 7},
	{"15", "新潟", "Niigata", 11, 4},
	{"16", "富山", "Toyama", 10, 4},
	{"17", "石川", "Ishikawa", 9, 4},
	{"18", "福井", "Fukui", 8, 5},
	{"19", "山梨", "Yamanashi", 10, 6},
	{"20", "長野", "Nagano", 10, 5},
	{"21", "岐阜", "Gifu", 9, 5},
	{"22", "静岡", "Shizuoka", 9, 7},
	{"23", "愛知", "Aichi", 9, 6},
	{"24", "三重", "Mie", 8, 7},
	{"25", "滋賀", "Shiga", 8, 6},
	{"26", "京都", "Kyoto", 7, 5},
	{"27", "大阪", "Osaka", 6, 6},
	{"28", "兵庫", "Hyogo", 6, 5},
	{"29", "奈良", "Nara", 7, 6},
	{"30", "和歌山", "Wakayama", 7, 7},
	{"31", "鳥取", "Tottori", 5, 5},
	{"32", "島根", "Shimane", 4, 5},
	{"33", "岡山", "Okayama", 5, 6},
	{"34", "広島", "Hiroshima", 4, 6},
	{"35", "山口", "Yamaguchi", 3, 6},
	{"36", "徳島", "Tokushima", 5, 9},
	{"37", "香川", "Kagawa", 5, 8},
	{"38", "愛媛", "Ehime", 4, 8},
	{"39", "高知", "Kochi", 4, 9},
	{"40", "福岡", "Fukuoka", 2, 6},
	{"41", "佐賀", "Saga", 1, 6},
	{"42", "長崎", "Nagasaki", 0, 7},
	{"43", "熊本", "Kumamoto", 1, 7},
	{"44", "大分", "Oita", 2, 7},
	{"45", "宮崎", "Miyazaki", 2, 8},
	{"46", "鹿児島", "Kagoshima", 1, 8},
	{"47", "沖縄", "Okinawa", 0, 10},
}

// mapColumns and mapRows are the grid's size.
const mapColumns, mapRows = 13, 11
