/**
 * @file switchyard/abi.h
 * @brief Switchyard plugin ABI v1.1: the plain C contract between the gateway core and plugins.
 *
 * Rules that hold for every declaration below:
 * - Only C types cross: no STL type, exception, allocator or longjmp.
 * - Every table starts with `struct_size`. Tables only grow at the end; a reader treats a
 *   field beyond the `struct_size` it was given as zero/NULL. Removing or reordering a field
 *   is a major version bump.
 * - `sy_str` values handed to a plugin are borrowed and valid only for the duration of the
 *   call (OWNERSHIP: host). A plugin that needs them later copies them.
 * - A plugin never returns memory the host must free. Results go back through host callbacks
 *   (`sy_host_api`) that copy what they are given before returning.
 * - Handles are opaque. `*_host_t` handles are owned by the host, plain `void*` instance and
 *   stream handles are owned by the plugin and destroyed exactly once by the host through the
 *   plugin's own destroy hook.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SY_ABI_MAJOR 1
#define SY_ABI_MINOR 1

/** Name of the one symbol every plugin library exports. */
#define SY_PLUGIN_ENTRY_SYMBOL "sy_plugin_entry"

#if defined(_WIN32)
#define SY_EXPORT __declspec(dllexport)
#else
#define SY_EXPORT __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------------------------------ */
/* Plain values                                                                               */
/* ------------------------------------------------------------------------------------------ */

/** Borrowed bytes, not NUL-terminated. `ptr` may be NULL when `len` is 0. */
typedef struct sy_str {
  const char* ptr;
  size_t len;
} sy_str;

/** One HTTP header as two borrowed views. */
typedef struct sy_header {
  sy_str name;
  sy_str value;
} sy_header;

/** Result of every hook. Values are stable; new ones are only added. */
typedef int32_t sy_status;
#define SY_OK 0
#define SY_ERR_INVALID_ARG 1 /* the input (request, config) is wrong; details via set_error */
#define SY_ERR_UNSUPPORTED 2 /* the operation or parameter is not supported by this component */
#define SY_ERR_UPSTREAM 3    /* the upstream answered with an error; details via set_error */
#define SY_ERR_INTERNAL 4    /* a bug or an unexpected state inside the plugin */
#define SY_ERR_DENIED 5      /* auth: the caller is refused; details via set_error */
#define SY_DECLINED 6        /* auth: this scheme does not apply to the request; try the next */

/** Component kinds. Append-only. */
typedef uint32_t sy_kind;
#define SY_KIND_PROVIDER 1
#define SY_KIND_AUTH 2
#define SY_KIND_LOG_SINK 3
#define SY_KIND_ANALYTICS 4

/** Log levels, the same order as spdlog's. */
#define SY_LOG_TRACE 0
#define SY_LOG_DEBUG 1
#define SY_LOG_INFO 2
#define SY_LOG_WARN 3
#define SY_LOG_ERROR 4

/** Metric types for `sy_host_api.metric`. */
#define SY_METRIC_COUNTER 1   /* value is added */
#define SY_METRIC_GAUGE 2     /* value replaces */
#define SY_METRIC_HISTOGRAM 3 /* value is one observation */

/** Operations a provider translates. */
typedef uint32_t sy_operation;
#define SY_OP_CHAT_COMPLETIONS 1
#define SY_OP_EMBEDDINGS 2

/** What a plugin hands back through `sy_host_api.emit`. */
typedef uint32_t sy_event;
#define SY_EVENT_RESPONSE 1     /* provider: the whole unified (OpenAI-format) response body */
#define SY_EVENT_CHUNK 2        /* provider: one unified stream chunk, a JSON object */
#define SY_EVENT_USAGE 3        /* provider: usage JSON {"prompt_tokens","completion_tokens",...} */
#define SY_EVENT_DONE 4         /* provider: the stream ended normally (no payload) */
#define SY_EVENT_QUERY_RESULT 5 /* analytics: the JSON answer to a query */

/** Plugin flags (sy_plugin_info.flags). */
#define SY_PLUGIN_FLAG_NO_UNLOAD 1u /* keep the code mapped forever (e.g. thread-local destructors) */

/* ------------------------------------------------------------------------------------------ */
/* Host side                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** The output channel of one hook call. Valid only during that call. */
typedef struct sy_out_host sy_out_host_t;

/**
 * Services the host offers. Handed to `init`; valid until `shutdown` returns.
 * THREADING: every function may be called from any thread.
 * OWNERSHIP: every function copies what it is given before it returns.
 */
typedef struct sy_host_api {
  size_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;

  /* -- services -- */
  /** Logs through the core's logger. `source` names the component (e.g. "openai"). */
  void (*log)(uint32_t level, sy_str source, sy_str message);
  /** True when a message at `level` would be written; lets hot paths skip formatting. */
  bool (*log_enabled)(uint32_t level);
  /** Wall clock, milliseconds since the Unix epoch. */
  int64_t (*now_unix_ms)(void);
  /** Monotonic clock in nanoseconds, for durations. */
  uint64_t (*monotonic_ns)(void);
  /** Reports a metric (SY_METRIC_*). Names are Prometheus-style, e.g. "plugin_cache_hits". */
  void (*metric)(uint32_t type, sy_str name, double value);

  /* -- output of the current call (which calls accept which output is documented per hook) -- */
  /**
   * Describes why the call failed, in the shape of an OpenAI error:
   * {"error":{"message","type","code"}} with the HTTP status the client should see.
   */
  void (*set_error)(sy_out_host_t* out, uint32_t http_status, sy_str type, sy_str code,
                    sy_str message);
  /** Provider build_request: the upstream HTTP method (default POST). */
  void (*request_set_method)(sy_out_host_t* out, sy_str method);
  /** Provider build_request: path and query, appended to the target's base URL. */
  void (*request_set_path)(sy_out_host_t* out, sy_str path_and_query);
  /** Provider build_request: one upstream request header. */
  void (*request_add_header)(sy_out_host_t* out, sy_str name, sy_str value);
  /** Provider build_request: appends bytes to the upstream request body. */
  void (*request_append_body)(sy_out_host_t* out, sy_str bytes);
  /**
   * Provider responses and streams, analytics queries: hands back one event (SY_EVENT_*).
   * Returns SY_OK, or SY_ERR_INVALID_ARG when the event is not accepted for this call.
   */
  sy_status (*emit)(sy_out_host_t* out, sy_event event, sy_str payload);
  /** Auth authenticate: who the caller is. Any part may be empty. */
  void (*principal_set)(sy_out_host_t* out, sy_str tenant, sy_str app, sy_str key_id);
  /** Auth authenticate: free metadata about the caller (never secrets). */
  void (*principal_add_metadata)(sy_out_host_t* out, sy_str key, sy_str value);

  /* -- ABI 1.1 (in the first reserved slot; NULL on a 1.0 host) -- */
  /**
   * Provider build_request: the client sent parameter `name` and the request the plugin built
   * does not honour it (the provider's documented policy is to drop it). The host lists every
   * dropped name in the response header `x-switchyard-dropped-params`. Names are top-level
   * request keys or dotted paths ("image_url.detail"); at most 64 bytes of [A-Za-z0-9_.-].
   * Calling it outside build_request is ignored. Check for NULL before calling.
   */
  void (*note_dropped_param)(sy_out_host_t* out, sy_str name);

  void* reserved[7];
} sy_host_api;

/* ------------------------------------------------------------------------------------------ */
/* Views the host passes in (OWNERSHIP: host, valid for the call)                              */
/* ------------------------------------------------------------------------------------------ */

/** The request a provider translates, plus the upstream target chosen for this attempt. */
typedef struct sy_provider_request {
  size_t struct_size;
  sy_operation operation;
  bool stream;          /* the client asked for a stream */
  sy_str request_id;    /* the gateway's id for this call */
  sy_str body;          /* the unified (OpenAI-format) JSON request, as the client sent it */
  sy_str public_model;  /* the model name the client used */
  sy_str upstream_model;/* the model name the target knows */
  sy_str base_url;      /* the target's base URL, e.g. "https://api.openai.com/v1" */
  sy_str api_key;       /* the target's credential. SECRET: never log it. May be empty. */
} sy_provider_request;

/** What the upstream answered (the whole body, or only the head when a stream opens). */
typedef struct sy_upstream_response {
  size_t struct_size;
  uint32_t status;
  const sy_header* headers;
  size_t header_count;
  sy_str body; /* empty for stream_open */
} sy_upstream_response;

/** The client's HTTP request as an auth scheme sees it. */
typedef struct sy_http_request {
  size_t struct_size;
  sy_str method;
  sy_str path; /* path and query */
  sy_str peer_address;
  const sy_header* headers;
  size_t header_count;
} sy_http_request;

/* ------------------------------------------------------------------------------------------ */
/* Component tables (implemented by the plugin)                                               */
/* ------------------------------------------------------------------------------------------ */

/**
 * A provider translates between the unified API and one upstream wire format. It performs
 * no I/O: the host owns sockets, TLS, pools, timeouts and retries.
 *
 * THREADING: create/destroy run on the host's loader thread. build_request and
 * parse_response may run concurrently for one instance. All stream_* calls for one stream
 * are serialized, on one thread at a time.
 */
typedef struct sy_provider_vtable {
  size_t struct_size;
  /** Creates an instance from its JSON config block; SY_OK must come with a non-NULL instance.
   * Errors via set_error on `out`. */
  sy_status (*create)(void* plugin_state, sy_str config_json, sy_out_host_t* out,
                      void** instance);
  void (*destroy)(void* instance);
  /** Builds the upstream request: request_* and set_error on `out`. */
  sy_status (*build_request)(void* instance, const sy_provider_request* request,
                             sy_out_host_t* out);
  /**
   * Translates a complete upstream answer (any status): emit SY_EVENT_RESPONSE (and
   * SY_EVENT_USAGE), or set_error with the status the client should see.
   */
  sy_status (*parse_response)(void* instance, const sy_provider_request* request,
                              const sy_upstream_response* response, sy_out_host_t* out);
  /** Opens the translation of a 2xx streaming answer. `response->body` is empty. */
  sy_status (*stream_open)(void* instance, const sy_provider_request* request,
                           const sy_upstream_response* response, void** stream);
  /**
   * Feeds stream bytes exactly as they arrived (any split). Emits SY_EVENT_CHUNK,
   * SY_EVENT_USAGE, SY_EVENT_DONE, or set_error for an in-band upstream error.
   */
  sy_status (*stream_data)(void* stream, sy_str bytes, sy_out_host_t* out);
  /** The upstream closed the stream. Emits what is left; set_error if it ended too early. */
  sy_status (*stream_end)(void* stream, sy_out_host_t* out);
  void (*stream_destroy)(void* stream);
  void* reserved[4];
} sy_provider_vtable;

/**
 * An auth scheme decides who a caller is. Returns SY_OK with principal_set, SY_DECLINED when
 * the request carries no credential of its kind, or SY_ERR_DENIED with set_error.
 * THREADING: authenticate may run concurrently.
 */
typedef struct sy_auth_vtable {
  size_t struct_size;
  sy_status (*create)(void* plugin_state, sy_str config_json, sy_out_host_t* out,
                      void** instance);
  void (*destroy)(void* instance);
  sy_status (*authenticate)(void* instance, const sy_http_request* request, sy_out_host_t* out);
  void* reserved[4];
} sy_auth_vtable;

/**
 * A log sink receives finished call records (JSON objects, schema "switchyard.call.v1" in
 * docs/sdk.md)
 * in batches, on a host background thread, never on the request path.
 * THREADING: write_batch and flush are serialized per instance.
 * A non-OK result means "not delivered": the host keeps the batch and tries again later.
 */
typedef struct sy_log_sink_vtable {
  size_t struct_size;
  sy_status (*create)(void* plugin_state, sy_str config_json, sy_out_host_t* out,
                      void** instance);
  void (*destroy)(void* instance);
  sy_status (*write_batch)(void* instance, const sy_str* records, size_t count,
                           sy_out_host_t* out);
  sy_status (*flush)(void* instance);
  void* reserved[4];
} sy_log_sink_vtable;

/**
 * An analytics module observes call records (as a log sink does) and answers queries in
 * JSON through emit(SY_EVENT_QUERY_RESULT).
 * THREADING: observe is serialized per instance; query may run concurrently with it.
 */
typedef struct sy_analytics_vtable {
  size_t struct_size;
  sy_status (*create)(void* plugin_state, sy_str config_json, sy_out_host_t* out,
                      void** instance);
  void (*destroy)(void* instance);
  void (*observe)(void* instance, const sy_str* records, size_t count);
  sy_status (*query)(void* instance, sy_str query_json, sy_out_host_t* out);
  void* reserved[4];
} sy_analytics_vtable;

/* ------------------------------------------------------------------------------------------ */
/* Registration                                                                               */
/* ------------------------------------------------------------------------------------------ */

/** One component a library offers. `vtable` points to the table of its kind. */
typedef struct sy_component {
  size_t struct_size;
  sy_kind kind;
  sy_str name;          /* unique per kind across loaded plugins, e.g. "openai" */
  sy_str description;
  const void* vtable;   /* sy_provider_vtable*, sy_auth_vtable*, ... (starts with struct_size) */
  sy_str config_schema; /* optional JSON Schema of the config block; may be empty */
} sy_component;

/** What a library declares about itself. Static storage in the plugin. */
typedef struct sy_plugin_info {
  size_t struct_size;
  uint32_t abi_major; /* must equal the host's */
  uint32_t abi_minor; /* must be <= the host's */
  sy_str name;
  sy_str version;
  sy_str vendor;
  sy_str description;
  uint32_t flags; /* SY_PLUGIN_FLAG_* */
  const sy_component* components;
  size_t component_count;
  /** Called once per loaded copy before any component is used. May be NULL. */
  sy_status (*init)(const sy_host_api* host, void** plugin_state);
  /** Called once after the last instance is destroyed: join threads, free state. May be NULL. */
  void (*shutdown)(void* plugin_state);
  void* reserved[4];
} sy_plugin_info;

/**
 * The entry point. The host passes the ABI it speaks; the plugin returns its static info
 * (or NULL if it cannot serve that host). Exported as SY_PLUGIN_ENTRY_SYMBOL.
 */
typedef const sy_plugin_info* (*sy_plugin_entry_fn)(uint32_t host_abi_major,
                                                    uint32_t host_abi_minor);

/** The entry point's prototype, so a plugin's definition is checked against it. */
SY_EXPORT const sy_plugin_info* sy_plugin_entry(uint32_t host_abi_major, uint32_t host_abi_minor);

#ifdef __cplusplus
} /* extern "C" */
#endif
