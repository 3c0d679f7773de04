/* registry.c -- the table of built-in services. */
#include "internal.h"
#include "services/services.h"

#include <string.h>

static const sk_service *const services[] = {
    &sk__service_stdio,   &sk__service_echo, &sk__service_upper,
    &sk__service_discard, &sk__service_chat, NULL,
};

const sk_service *sk_service_find(const char *name) {
  for (const sk_service *const *s = services; *s != NULL; s++)
    if (strcmp((*s)->name, name) == 0)
      return *s;
  return NULL;
}

const sk_service *const *sk_service_list(void) {
  return services;
}
