/* esp_internal.h -- internal structures of the search portal. */
#ifndef INTEROP_ESP_INTERNAL_H
#define INTEROP_ESP_INTERNAL_H
#include <stdio.h>
#include "interop/esp.h"

enum { ESP_Q_NEVER = 0, ESP_Q_ALWAYS, ESP_Q_OPTIONAL };

typedef struct esp_sys_rule {
    int mode;               /* ESP_Q_* */
    unsigned categories;    /* esp_category bits the reply may show */
    bool write;
    char **kinds; size_t n_kinds;                 /* record kinds shown (0 = all) */
    char **categories_list; size_t n_categories;  /* SIS alert categories shown */
    bool categories_set, categories_list_owned;
} esp_sys_rule;

struct esp_profile {
    char *name, *description;
    char **authority_types; size_t n_authority_types;
    unsigned fields;
    bool cir;
    esp_sys_rule sys[IOP_SYS_COUNT];
};

struct esp_profiles {
    esp_profile *items;
    size_t n;
};

const char *esp_field_name(unsigned bit);
const char *esp_category_name(unsigned bit);
unsigned esp_category_bit(const char *name);
/* Writes a stored record's JSON reduced to the categories profile p may see for system s. */
iop_code esp_filter_json(const esp_profile *p, iop_system s, const char *body, iop_buf *out, iop_err *err);
#endif
