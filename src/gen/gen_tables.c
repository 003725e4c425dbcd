/*
 * gen_tables.c -- the static tables of the population model: third-country
 * nationalities with their visa requirement (Reg. (EU) 2018/1806, Annex I = visa
 * required, Annex II = visa exempt) and their relative weight among travellers,
 * migrants and residents; the Schengen States; the Member States bound by ECRIS-TCN
 * (Reg. (EU) 2019/816: all Member States but Denmark); border crossing points; and the
 * common given names of the cultures whose names the shared data does not sort by
 * sex (Cyrillic, Arabic) or does not cover realistically (Han, Turkish).
 *
 * Weights are rough orders of magnitude from public statistics (Schengen visa
 * applications by nationality, asylum applications by citizenship, third-country
 * nationals resident in the EU); docs/population-model.md lists them.
 */
#include <string.h>
#include "gen/gen_internal.h"

/*                code  culture      visa   traveller migrant resident  rom  cities                                        L  D */
const gen_country gen_countries[] = {
    {"USA", CUL_ANGLO,   false, {14.0, 0.1, 1.0}, 0, {"New York", "Chicago", "Houston"}, 0, 9},
    {"GBR", CUL_ANGLO,   false, {12.0, 0.1, 2.0}, 0, {"London", "Manchester", "Birmingham"}, 0, 9},
    {"CAN", CUL_ANGLO,   false, {3.0, 0.0, 0.3}, 0, {"Toronto", "Montreal", "Vancouver"}, 2, 6},
    {"AUS", CUL_ANGLO,   false, {2.5, 0.0, 0.2}, 0, {"Sydney", "Melbourne", "Brisbane"}, 1, 7},
    {"NGA", CUL_ANGLO,   true,  {1.5, 4.0, 2.0}, 0, {"Lagos", "Abuja", "Kano"}, 1, 8},
    {"GHA", CUL_ANGLO,   true,  {0.5, 1.0, 0.8}, 0, {"Accra", "Kumasi", "Tamale"}, 1, 7},
    {"ISR", CUL_HEBREW,  false, {2.0, 0.0, 0.3}, 0, {"Jerusalem", "Tel Aviv", "Haifa"}, 0, 8},
    {"UKR", CUL_SLAVIC,  false, {6.0, 2.0, 5.0}, 0, {"Kyiv", "Kharkiv", "Odesa"}, 2, 6},
    {"SRB", CUL_SLAVIC,  false, {2.0, 0.3, 2.0}, 0, {"Belgrade", "Novi Sad", "Nis"}, 0, 9},
    {"MKD", CUL_SLAVIC,  false, {0.6, 0.1, 0.6}, 0, {"Skopje", "Bitola", "Kumanovo"}, 1, 7},
    {"RUS", CUL_SLAVIC,  true,  {4.0, 1.0, 3.0}, 0, {"Moscow", "Saint Petersburg", "Novosibirsk"}, 0, 9},
    {"BLR", CUL_SLAVIC,  true,  {1.2, 0.5, 1.0}, 0, {"Minsk", "Gomel", "Brest"}, 2, 7},
    {"KAZ", CUL_SLAVIC,  true,  {0.8, 0.2, 0.5}, 0, {"Almaty", "Astana", "Karaganda"}, 1, 8},
    {"CHN", CUL_CHINESE, true,  {6.0, 0.5, 2.0}, 0, {"Beijing", "Shanghai", "Guangzhou"}, 1, 8},
    {"TWN", CUL_CHINESE, false, {1.0, 0.0, 0.2}, 1, {"Taipei", "Kaohsiung", "Taichung"}, 0, 9},
    {"HKG", CUL_CHINESE, false, {0.8, 0.0, 0.2}, 2, {"Hong Kong", "Kowloon", "Sha Tin"}, 1, 8},
    {"TUR", CUL_TURKISH, true,  {5.0, 3.0, 6.0}, 0, {"Istanbul", "Ankara", "Izmir"}, 1, 8},
    {"MAR", CUL_ARABIC,  true,  {3.0, 4.0, 5.0}, 0, {"Casablanca", "Rabat", "Fes"}, 2, 7},
    {"DZA", CUL_ARABIC,  true,  {2.0, 3.0, 4.0}, 0, {"Algiers", "Oran", "Constantine"}, 0, 9},
    {"TUN", CUL_ARABIC,  true,  {1.5, 3.0, 2.0}, 0, {"Tunis", "Sfax", "Sousse"}, 1, 6},
    {"EGY", CUL_ARABIC,  true,  {1.5, 3.0, 1.5}, 0, {"Cairo", "Alexandria", "Giza"}, 1, 8},
    {"SAU", CUL_ARABIC,  true,  {1.0, 0.0, 0.2}, 0, {"Riyadh", "Jeddah", "Mecca"}, 1, 7},
    {"ARE", CUL_ARABIC,  false, {1.0, 0.0, 0.3}, 0, {"Dubai", "Abu Dhabi", "Sharjah"}, 0, 9},
    {"JOR", CUL_ARABIC,  true,  {0.5, 0.2, 0.3}, 0, {"Amman", "Zarqa", "Irbid"}, 1, 6},
    {"LBN", CUL_ARABIC,  true,  {0.6, 0.5, 0.6}, 0, {"Beirut", "Tripoli", "Sidon"}, 2, 7},
    {"SYR", CUL_ARABIC,  true,  {0.4, 14.0, 3.0}, 0, {"Damascus", "Aleppo", "Homs"}, 1, 8},
    {"IRQ", CUL_ARABIC,  true,  {0.4, 6.0, 1.5}, 0, {"Baghdad", "Mosul", "Basra"}, 1, 8},
    {"AFG", CUL_ARABIC,  true,  {0.2, 12.0, 2.0}, 0, {"Kabul", "Herat", "Kandahar"}, 1, 7},
    {"PAK", CUL_ARABIC,  true,  {0.8, 6.0, 2.0}, 0, {"Karachi", "Lahore", "Islamabad"}, 2, 7},
    {"SDN", CUL_ARABIC,  true,  {0.2, 3.0, 0.5}, 0, {"Khartoum", "Omdurman", "Port Sudan"}, 1, 8},
    {"LBY", CUL_ARABIC,  true,  {0.3, 1.0, 0.3}, 0, {"Tripoli", "Benghazi", "Misrata"}, 1, 8},
    {"YEM", CUL_ARABIC,  true,  {0.1, 1.0, 0.2}, 0, {"Sanaa", "Aden", "Taiz"}, 0, 8},
};
const size_t gen_n_countries = sizeof gen_countries / sizeof gen_countries[0];

/* The busiest first: the generator draws from the first eight more often. */
const char *const gen_schengen[] = {
    "DEU", "FRA", "ITA", "ESP", "NLD", "GRC", "AUT", "BEL", "BGR", "HRV", "CZE", "DNK", "EST", "FIN",
    "HUN", "ISL", "LVA", "LIE", "LTU", "LUX", "MLT", "NOR", "POL", "PRT", "ROU", "SVK", "SVN", "SWE", "CHE"};
const size_t gen_n_schengen = sizeof gen_schengen / sizeof gen_schengen[0];

const char *const gen_eu_ecris[] = {
    "DEU", "FRA", "ITA", "ESP", "NLD", "GRC", "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "EST",
    "FIN", "HUN", "IRL", "LVA", "LTU", "LUX", "MLT", "POL", "PRT", "ROU", "SVK", "SVN", "SWE"};
const size_t gen_n_eu_ecris = sizeof gen_eu_ecris / sizeof gen_eu_ecris[0];

const char *const gen_bcps[] = {
    "FRA-CDG", "FRA-ORY", "DEU-FRA", "DEU-MUC", "NLD-AMS", "ESP-MAD", "ESP-BCN", "ITA-FCO", "ITA-MXP",
    "GRC-ATH", "AUT-VIE", "BEL-BRU", "PRT-LIS", "CHE-ZRH", "POL-WAW", "POL-TERESPOL", "FIN-HEL",
    "FIN-VAALIMAA", "EST-NARVA", "LTU-MEDININKAI", "HUN-ROSZKE", "HRV-BREGANA", "BGR-KAPITAN-ANDREEVO",
    "ROU-OTP", "ESP-CEUTA", "ESP-ALGECIRAS", "ITA-BARI", "GRC-KIPOI", "CZE-PRG", "SWE-ARN", "DNK-CPH"};
const size_t gen_n_bcps = sizeof gen_bcps / sizeof gen_bcps[0];

const char *const gen_occupations[] = {
    "engineer", "teacher", "student", "nurse", "physician", "sales manager", "software developer",
    "accountant", "driver", "construction worker", "retired", "homemaker", "civil servant",
    "farmer", "lawyer", "chef", "researcher", "business owner", "mechanic", "unemployed"};
const size_t gen_n_occupations = sizeof gen_occupations / sizeof gen_occupations[0];

/* ---- built-in names ---- */

static void pool_add(gen_pool *p, gen_arena *a, const char *native, char sex, const char *l0,
                     const char *l1, const char *l2, const char *l3) {
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        gen_name *nv = gen_arena_alloc(a, nc * sizeof *nv);
        if (!nv) return;
        if (p->n) memcpy(nv, p->v, p->n * sizeof *nv);
        p->v = nv;
        p->cap = nc;
    }
    gen_name *g = &p->v[p->n++];
    memset(g, 0, sizeof *g);
    g->native = native;
    g->sex = sex;
    const char *l[4] = {l0, l1, l2, l3};
    for (int i = 0; i < 4; i++)
        if (l[i]) g->latin[g->n_latin++] = l[i];
}

/* Cyrillic given names: the Latin forms are derived by romanisation at generation. */
static const char *const cyr_m[] = {"Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим",
                                    "Евгений", "Иван", "Михаил", "Николай", "Владимир", "Артём",
                                    "Игорь", "Олег", "Юрий", "Виктор", "Павел", "Роман", "Денис",
                                    "Константин", "Вадим", "Богдан", "Тарас", "Никита"};
static const char *const cyr_f[] = {"Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Анна", "Светлана",
                                    "Мария", "Екатерина", "Юлия", "Анастасия", "Людмила", "Галина",
                                    "Марина", "Оксана", "Ксения", "Дарья", "Виктория", "Алёна", "Ульяна"};

static const struct { const char *ar; char sex; const char *l[4]; } ar_given[] = {
    {"محمد", 'M', {"Mohammed", "Muhammad", "Mohamed", "Mohammad"}},
    {"أحمد", 'M', {"Ahmed", "Ahmad", "Ahmet", NULL}},
    {"علي", 'M', {"Ali", "Aly", NULL, NULL}},
    {"حسن", 'M', {"Hassan", "Hasan", NULL, NULL}},
    {"حسين", 'M', {"Hussein", "Hussain", "Husain", "Hossein"}},
    {"يوسف", 'M', {"Youssef", "Yusuf", "Yousef", "Youcef"}},
    {"عمر", 'M', {"Omar", "Umar", NULL, NULL}},
    {"خالد", 'M', {"Khaled", "Khalid", NULL, NULL}},
    {"عبدالله", 'M', {"Abdullah", "Abdallah", "Abdellah", NULL}},
    {"إبراهيم", 'M', {"Ibrahim", "Ebrahim", "Brahim", NULL}},
    {"مصطفى", 'M', {"Mustafa", "Moustafa", "Mostafa", NULL}},
    {"محمود", 'M', {"Mahmoud", "Mahmud", NULL, NULL}},
    {"سعيد", 'M', {"Said", "Saeed", "Saied", NULL}},
    {"كريم", 'M', {"Karim", "Kareem", NULL, NULL}},
    {"رشيد", 'M', {"Rachid", "Rashid", "Rasheed", NULL}},
    {"طارق", 'M', {"Tarek", "Tariq", "Tarik", NULL}},
    {"جمال", 'M', {"Jamal", "Gamal", "Djamel", NULL}},
    {"سمير", 'M', {"Samir", "Sameer", NULL, NULL}},
    {"ياسين", 'M', {"Yassine", "Yasin", "Yassin", NULL}},
    {"عادل", 'M', {"Adel", "Adil", NULL, NULL}},
    {"فاطمة", 'F', {"Fatima", "Fatma", "Fatemeh", NULL}},
    {"عائشة", 'F', {"Aisha", "Aicha", "Ayesha", NULL}},
    {"مريم", 'F', {"Mariam", "Maryam", "Meriem", NULL}},
    {"زينب", 'F', {"Zainab", "Zeinab", "Zaynab", NULL}},
    {"خديجة", 'F', {"Khadija", "Khadidja", "Khadijah", NULL}},
    {"نور", 'F', {"Nour", "Noor", "Nur", NULL}},
    {"سارة", 'F', {"Sara", "Sarah", NULL, NULL}},
    {"ليلى", 'F', {"Leila", "Layla", "Laila", NULL}},
    {"أمينة", 'F', {"Amina", "Aminah", NULL, NULL}},
    {"هدى", 'F', {"Huda", "Houda", "Hoda", NULL}},
    {"سلمى", 'F', {"Salma", "Selma", NULL, NULL}},
    {"ياسمين", 'F', {"Yasmine", "Yasmin", "Jasmin", NULL}},
    {"رانيا", 'F', {"Rania", "Raniya", NULL, NULL}},
    {"حليمة", 'F', {"Halima", "Halimah", NULL, NULL}},
};

/* Han: pinyin, Wade-Giles, Cantonese (Hong Kong) */
static const struct { const char *han; char sex; const char *l[3]; } han_surnames[] = {
    {"王", 'U', {"Wang", "Wang", "Wong"}},   {"李", 'U', {"Li", "Lee", "Lee"}},
    {"张", 'U', {"Zhang", "Chang", "Cheung"}}, {"刘", 'U', {"Liu", "Liu", "Lau"}},
    {"陈", 'U', {"Chen", "Chen", "Chan"}},   {"杨", 'U', {"Yang", "Yang", "Yeung"}},
    {"黄", 'U', {"Huang", "Huang", "Wong"}}, {"赵", 'U', {"Zhao", "Chao", "Chiu"}},
    {"吴", 'U', {"Wu", "Wu", "Ng"}},         {"周", 'U', {"Zhou", "Chou", "Chow"}},
    {"徐", 'U', {"Xu", "Hsu", "Tsui"}},      {"孙", 'U', {"Sun", "Sun", "Suen"}},
    {"马", 'U', {"Ma", "Ma", "Ma"}},         {"朱", 'U', {"Zhu", "Chu", "Chu"}},
    {"胡", 'U', {"Hu", "Hu", "Woo"}},        {"郭", 'U', {"Guo", "Kuo", "Kwok"}},
    {"林", 'U', {"Lin", "Lin", "Lam"}},      {"何", 'U', {"He", "Ho", "Ho"}},
    {"高", 'U', {"Gao", "Kao", "Ko"}},       {"罗", 'U', {"Luo", "Lo", "Law"}},
    {"郑", 'U', {"Zheng", "Cheng", "Cheng"}}, {"梁", 'U', {"Liang", "Liang", "Leung"}},
    {"谢", 'U', {"Xie", "Hsieh", "Tse"}},    {"宋", 'U', {"Song", "Sung", "Sung"}},
    {"唐", 'U', {"Tang", "Tang", "Tong"}},   {"许", 'U', {"Xu", "Hsu", "Hui"}},
};
static const struct { const char *han; char sex; const char *l[3]; } han_given[] = {
    {"伟", 'M', {"Wei", "Wei", "Wai"}},        {"强", 'M', {"Qiang", "Chiang", "Keung"}},
    {"磊", 'M', {"Lei", "Lei", "Lui"}},        {"军", 'M', {"Jun", "Chun", "Kwan"}},
    {"勇", 'M', {"Yong", "Yung", "Yung"}},     {"杰", 'M', {"Jie", "Chieh", "Kit"}},
    {"涛", 'M', {"Tao", "Tao", "To"}},         {"明", 'M', {"Ming", "Ming", "Ming"}},
    {"超", 'M', {"Chao", "Chao", "Chiu"}},     {"建华", 'M', {"Jianhua", "Chien-hua", "Kin-wah"}},
    {"志强", 'M', {"Zhiqiang", "Chih-chiang", "Chi-keung"}}, {"晓明", 'M', {"Xiaoming", "Hsiao-ming", "Hiu-ming"}},
    {"俊杰", 'M', {"Junjie", "Chun-chieh", "Chun-kit"}},     {"浩然", 'M', {"Haoran", "Hao-jan", "Ho-yin"}},
    {"芳", 'F', {"Fang", "Fang", "Fong"}},     {"娜", 'F', {"Na", "Na", "Na"}},
    {"敏", 'F', {"Min", "Min", "Man"}},        {"静", 'F', {"Jing", "Ching", "Ching"}},
    {"丽", 'F', {"Li", "Li", "Lai"}},          {"艳", 'F', {"Yan", "Yen", "Yim"}},
    {"娟", 'F', {"Juan", "Chuan", "Kuen"}},    {"霞", 'F', {"Xia", "Hsia", "Ha"}},
    {"秀英", 'F', {"Xiuying", "Hsiu-ying", "Sau-ying"}}, {"丽华", 'F', {"Lihua", "Li-hua", "Lai-wah"}},
    {"玉兰", 'F', {"Yulan", "Yu-lan", "Yuk-lan"}},       {"海燕", 'F', {"Haiyan", "Hai-yen", "Hoi-yin"}},
    {"美玲", 'F', {"Meiling", "Mei-ling", "Mei-ling"}},  {"雅婷", 'F', {"Yating", "Ya-ting", "Nga-ting"}},
};

static const char *const tr_surnames[] = {"Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım",
                                          "Öztürk", "Aydın", "Özdemir", "Arslan", "Doğan", "Kılıç", "Aslan",
                                          "Çetin", "Kara", "Koç", "Kurt", "Özkan", "Şimşek", "Polat", "Erdoğan",
                                          "Güneş", "Korkmaz", "Aktaş", "Bulut", "Gül", "Tekin", "Keskin", "Ünal"};
static const char *const tr_m[] = {"Mehmet", "Mustafa", "Ahmet", "Ali", "Hüseyin", "Hasan", "İbrahim", "İsmail",
                                   "Osman", "Yusuf", "Murat", "Ömer", "Emre", "Burak", "Serkan", "Gökhan"};
static const char *const tr_f[] = {"Ayşe", "Fatma", "Emine", "Hatice", "Zeynep", "Elif", "Meryem", "Şerife",
                                   "Zehra", "Sultan", "Hanife", "Merve", "Özlem", "Gülsüm", "Büşra", "Esra"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

void gen_builtin_names(gen_names *n) {
    gen_arena *a = &n->strings;
    for (size_t i = 0; i < N(cyr_m); i++) pool_add(&n->given_m[CUL_SLAVIC], a, cyr_m[i], 'M', NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < N(cyr_f); i++) pool_add(&n->given_f[CUL_SLAVIC], a, cyr_f[i], 'F', NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < N(ar_given); i++)
        pool_add(ar_given[i].sex == 'M' ? &n->given_m[CUL_ARABIC] : &n->given_f[CUL_ARABIC], a, ar_given[i].ar,
                 ar_given[i].sex, ar_given[i].l[0], ar_given[i].l[1], ar_given[i].l[2], ar_given[i].l[3]);
    for (size_t i = 0; i < N(han_surnames); i++)
        pool_add(&n->surnames[CUL_CHINESE], a, han_surnames[i].han, 'U', han_surnames[i].l[0], han_surnames[i].l[1],
                 han_surnames[i].l[2], NULL);
    for (size_t i = 0; i < N(han_given); i++)
        pool_add(han_given[i].sex == 'M' ? &n->given_m[CUL_CHINESE] : &n->given_f[CUL_CHINESE], a, han_given[i].han,
                 han_given[i].sex, han_given[i].l[0], han_given[i].l[1], han_given[i].l[2], NULL);
    for (size_t i = 0; i < N(tr_surnames); i++) pool_add(&n->surnames[CUL_TURKISH], a, NULL, 'U', tr_surnames[i], NULL, NULL, NULL);
    for (size_t i = 0; i < N(tr_m); i++) pool_add(&n->given_m[CUL_TURKISH], a, NULL, 'M', tr_m[i], NULL, NULL, NULL);
    for (size_t i = 0; i < N(tr_f); i++) pool_add(&n->given_f[CUL_TURKISH], a, NULL, 'F', tr_f[i], NULL, NULL, NULL);
}

void gen_pool_add(gen_pool *p, gen_arena *a, const char *native, char sex, const char *l0, const char *l1) {
    pool_add(p, a, native, sex, l0, l1, NULL, NULL);
}
