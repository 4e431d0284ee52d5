// Thin N-API binding over libbpf and AF_PACKET. Numbers and bytes only: no policy, no
// knowledge of subscribers. Every failure throws an Error whose `code` is BNG_ERR_SYSCALL
// (or BNG_ERR_BPF_OBJECT), with `errno` and `syscall` naming the failing call.
#include <napi.h>
#include <uv.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

std::string g_libbpf_log;

int LibbpfPrint(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n > 0) {
    g_libbpf_log.append(buf, std::min<size_t>(n, sizeof(buf) - 1));
    if (g_libbpf_log.size() > 65536) g_libbpf_log.erase(0, g_libbpf_log.size() - 65536);
  }
  return 0;
}

Napi::Error SysError(Napi::Env env, const char *call, int err, const std::string &extra = "") {
  if (err < 0) err = -err;
  std::string msg = std::string(call) + " failed: " + strerror(err);
  if (!extra.empty()) msg += ": " + extra;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, "BNG_ERR_SYSCALL"));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, call));
  return e;
}

Napi::Error ObjError(Napi::Env env, const std::string &msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, "BNG_ERR_BPF_OBJECT"));
  return e;
}

int32_t ArgInt(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

Napi::Buffer<uint8_t> ArgBuf(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

std::string ArgStr(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

// ---------------------------------------------------------------------------------------------
// Objects

std::map<int, bpf_object *> g_objects;
int g_next_handle = 1;

bpf_object *GetObject(const Napi::CallbackInfo &info, size_t i) {
  int h = ArgInt(info, i);
  auto it = g_objects.find(h);
  if (it == g_objects.end()) throw ObjError(info.Env(), "unknown or closed object handle");
  return it->second;
}

bpf_map *GetObjMap(const Napi::CallbackInfo &info, bpf_object *obj, size_t i) {
  std::string name = ArgStr(info, i);
  bpf_map *m = bpf_object__find_map_by_name(obj, name.c_str());
  if (!m) throw ObjError(info.Env(), "no map named " + name + " in the object");
  return m;
}

Napi::Value ObjectOpen(const Napi::CallbackInfo &info) {
  std::string path = ArgStr(info, 0);
  g_libbpf_log.clear();
  bpf_object *obj = bpf_object__open_file(path.c_str(), nullptr);
  int err = libbpf_get_error(obj);
  if (err) throw SysError(info.Env(), "bpf_object__open_file", err, path + " " + g_libbpf_log);
  int h = g_next_handle++;
  g_objects[h] = obj;
  return Napi::Number::New(info.Env(), h);
}

Napi::Value ObjectMaps(const Napi::CallbackInfo &info) {
  bpf_object *obj = GetObject(info, 0);
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  bpf_map *m;
  uint32_t i = 0;
  bpf_object__for_each_map(m, obj) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_map__name(m));
    o.Set("type", (int)bpf_map__type(m));
    o.Set("keySize", bpf_map__key_size(m));
    o.Set("valueSize", bpf_map__value_size(m));
    o.Set("maxEntries", bpf_map__max_entries(m));
    o.Set("fd", bpf_map__fd(m));
    out.Set(i++, o);
  }
  return out;
}

Napi::Value ObjectPrograms(const Napi::CallbackInfo &info) {
  bpf_object *obj = GetObject(info, 0);
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  bpf_program *p;
  uint32_t i = 0;
  bpf_object__for_each_program(p, obj) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_program__name(p));
    o.Set("section", bpf_program__section_name(p));
    o.Set("fd", bpf_program__fd(p));
    out.Set(i++, o);
  }
  return out;
}

Napi::Value MapGetInitialValue(const Napi::CallbackInfo &info) {
  bpf_object *obj = GetObject(info, 0);
  bpf_map *m = GetObjMap(info, obj, 1);
  size_t size = 0;
  const void *v = bpf_map__initial_value(m, &size);
  if (!v) throw ObjError(info.Env(), "map has no initial value (not a global data section)");
  return Napi::Buffer<uint8_t>::Copy(info.Env(), static_cast<const uint8_t *>(v), size);
}

Napi::Value MapSetInitialValue(const Napi::CallbackInfo &info) {
  bpf_object *obj = GetObject(info, 0);
  bpf_map *m = GetObjMap(info, obj, 1);
  auto buf = ArgBuf(info, 2);
  int err = bpf_map__set_initial_value(m, buf.Data(), buf.Length());
  if (err) throw SysError(info.Env(), "bpf_map__set_initial_value", err);
  return info.Env().Undefined();
}

Napi::Value MapSetMaxEntries(const Napi::CallbackInfo &info) {
  bpf_object *obj = GetObject(info, 0);
  bpf_map *m = GetObjMap(info, obj, 1);
  int err = bpf_map__set_max_entries(m, ArgInt(info, 2));
  if (err) throw SysError(info.Env(), "bpf_map__set_max_entries", err);
  return info.Env().Undefined();
}

// Reuse an existing pinned map (so state survives a reload) before the object is loaded.
Napi::Value MapReuseFd(const Napi::CallbackInfo &info) {
  bpf_object *obj = GetObject(info, 0);
  bpf_map *m = GetObjMap(info, obj, 1);
  int err = bpf_map__reuse_fd(m, ArgInt(info, 2));
  if (err) throw SysError(info.Env(), "bpf_map__reuse_fd", err);
  return info.Env().Undefined();
}

// objectSectionVars(h, ".rodata") -> [{ name, offset, size }]: libbpf has placed the section's
// variables by the time the object is open, so these offsets are the ones the kernel will see.
Napi::Value ObjectSectionVars(const Napi::CallbackInfo &info) {
  bpf_object *obj = GetObject(info, 0);
  std::string sec = ArgStr(info, 1);
  Napi::Env env = info.Env();
  btf *b = bpf_object__btf(obj);
  if (!b) throw ObjError(env, "the object has no BTF");
  int id = btf__find_by_name_kind(b, sec.c_str(), BTF_KIND_DATASEC);
  if (id < 0) throw ObjError(env, "no section " + sec + " in the object's BTF");
  const btf_type *t = btf__type_by_id(b, id);
  const btf_var_secinfo *vs = btf_var_secinfos(t);
  Napi::Array out = Napi::Array::New(env);
  for (uint16_t i = 0; i < btf_vlen(t); i++, vs++) {
    const btf_type *v = btf__type_by_id(b, vs->type);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", btf__name_by_offset(b, v->name_off));
    o.Set("offset", vs->offset);
    o.Set("size", vs->size);
    out.Set(i, o);
  }
  return out;
}

Napi::Value ObjectLoad(const Napi::CallbackInfo &info) {
  bpf_object *obj = GetObject(info, 0);
  g_libbpf_log.clear();
  int err = bpf_object__load(obj);
  if (err) throw SysError(info.Env(), "bpf_object__load", err, g_libbpf_log);
  return info.Env().Undefined();
}

Napi::Value ObjectClose(const Napi::CallbackInfo &info) {
  int h = ArgInt(info, 0);
  auto it = g_objects.find(h);
  if (it != g_objects.end()) {
    bpf_object__close(it->second);
    g_objects.erase(it);
  }
  return info.Env().Undefined();
}

Napi::Value LastLibbpfLog(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), g_libbpf_log);
}

// ---------------------------------------------------------------------------------------------
// File descriptors, pinning, info

Napi::Value ObjGet(const Napi::CallbackInfo &info) {
  std::string path = ArgStr(info, 0);
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw SysError(info.Env(), "bpf_obj_get", errno, path);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value ObjPin(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  std::string path = ArgStr(info, 1);
  if (bpf_obj_pin(fd, path.c_str()) < 0) throw SysError(info.Env(), "bpf_obj_pin", errno, path);
  return info.Env().Undefined();
}

Napi::Value DupFd(const Napi::CallbackInfo &info) {
  int fd = dup(ArgInt(info, 0));
  if (fd < 0) throw SysError(info.Env(), "dup", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  if (fd >= 0) close(fd);
  return info.Env().Undefined();
}

Napi::Value MapInfo(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  uint32_t len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len) < 0) throw SysError(info.Env(), "bpf_obj_get_info_by_fd", errno);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("id", mi.id);
  o.Set("name", mi.name);
  o.Set("type", mi.type);
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  return o;
}

Napi::Value ProgInfo(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  bpf_prog_info pi;
  memset(&pi, 0, sizeof(pi));
  uint32_t len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd, &pi, &len) < 0) throw SysError(info.Env(), "bpf_obj_get_info_by_fd", errno);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("id", pi.id);
  o.Set("name", pi.name);
  o.Set("type", pi.type);
  return o;
}

Napi::Value ProgGetFdById(const Napi::CallbackInfo &info) {
  int fd = bpf_prog_get_fd_by_id(ArgInt(info, 0));
  if (fd < 0) throw SysError(info.Env(), "bpf_prog_get_fd_by_id", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo &info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) throw SysError(info.Env(), "libbpf_num_possible_cpus", n);
  return Napi::Number::New(info.Env(), n);
}

Napi::Value ClockBoottimeNs(const Napi::CallbackInfo &info) {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
  return Napi::BigInt::New(info.Env(), ns);
}

Napi::Value IfNameToIndex(const Napi::CallbackInfo &info) {
  std::string name = ArgStr(info, 0);
  unsigned idx = if_nametoindex(name.c_str());
  if (!idx) throw SysError(info.Env(), "if_nametoindex", errno, name);
  return Napi::Number::New(info.Env(), idx);
}

// ---------------------------------------------------------------------------------------------
// Attach: XDP and TC

Napi::Value XdpAttach(const Napi::CallbackInfo &info) {
  int ifindex = ArgInt(info, 0), fd = ArgInt(info, 1), flags = ArgInt(info, 2);
  int err = bpf_xdp_attach(ifindex, fd, flags, nullptr);
  if (err) throw SysError(info.Env(), "bpf_xdp_attach", err);
  return info.Env().Undefined();
}

Napi::Value XdpDetach(const Napi::CallbackInfo &info) {
  int ifindex = ArgInt(info, 0), flags = ArgInt(info, 1);
  int err = bpf_xdp_detach(ifindex, flags, nullptr);
  if (err && err != -ENOENT) throw SysError(info.Env(), "bpf_xdp_detach", err);
  return info.Env().Undefined();
}

Napi::Value XdpQuery(const Napi::CallbackInfo &info) {
  int ifindex = ArgInt(info, 0), flags = ArgInt(info, 1);
  uint32_t id = 0;
  int err = bpf_xdp_query_id(ifindex, flags, &id);
  if (err && err != -ENOENT) throw SysError(info.Env(), "bpf_xdp_query_id", err);
  return Napi::Number::New(info.Env(), id);
}

bpf_tc_attach_point TcPoint(const Napi::CallbackInfo &info, size_t i) {
  std::string where = ArgStr(info, i);
  if (where == "ingress") return BPF_TC_INGRESS;
  if (where == "egress") return BPF_TC_EGRESS;
  throw Napi::TypeError::New(info.Env(), "attach point must be 'ingress' or 'egress'");
}

// tcAttach(ifindex, 'ingress'|'egress', progFd, handle, priority)
Napi::Value TcAttach(const Napi::CallbackInfo &info) {
  int ifindex = ArgInt(info, 0);
  bpf_tc_attach_point point = TcPoint(info, 1);
  int fd = ArgInt(info, 2), handle = ArgInt(info, 3), prio = ArgInt(info, 4);
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
  int err = bpf_tc_hook_create(&hook);  // creates the clsact qdisc if it is not there
  if (err && err != -EEXIST) throw SysError(info.Env(), "bpf_tc_hook_create", err);
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts);
  opts.prog_fd = fd;
  opts.flags = BPF_TC_F_REPLACE;
  opts.handle = (uint32_t)handle;
  opts.priority = (uint32_t)prio;
  err = bpf_tc_attach(&hook, &opts);
  if (err) throw SysError(info.Env(), "bpf_tc_attach", err);
  return info.Env().Undefined();
}

Napi::Value TcDetach(const Napi::CallbackInfo &info) {
  int ifindex = ArgInt(info, 0);
  bpf_tc_attach_point point = TcPoint(info, 1);
  int handle = ArgInt(info, 2), prio = ArgInt(info, 3);
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts);
  opts.handle = (uint32_t)handle;
  opts.priority = (uint32_t)prio;
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT) throw SysError(info.Env(), "bpf_tc_detach", err);
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// Maps

Napi::Value MapLookup(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  auto key = ArgBuf(info, 1);
  int vsize = ArgInt(info, 2);
  std::vector<uint8_t> val(vsize);
  if (bpf_map_lookup_elem(fd, key.Data(), val.data()) < 0) {
    if (errno == ENOENT) return info.Env().Null();
    throw SysError(info.Env(), "bpf_map_lookup_elem", errno);
  }
  return Napi::Buffer<uint8_t>::Copy(info.Env(), val.data(), val.size());
}

Napi::Value MapUpdate(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  auto key = ArgBuf(info, 1);
  auto val = ArgBuf(info, 2);
  int flags = info.Length() > 3 ? ArgInt(info, 3) : BPF_ANY;
  if (bpf_map_update_elem(fd, key.Data(), val.Data(), flags) < 0)
    throw SysError(info.Env(), "bpf_map_update_elem", errno);
  return info.Env().Undefined();
}

Napi::Value MapDelete(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  auto key = ArgBuf(info, 1);
  if (bpf_map_delete_elem(fd, key.Data()) < 0) {
    if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
    throw SysError(info.Env(), "bpf_map_delete_elem", errno);
  }
  return Napi::Boolean::New(info.Env(), true);
}

// mapGetNextKey(fd, key | null, keySize) -> Buffer | null at the end
Napi::Value MapGetNextKey(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  int ksize = ArgInt(info, 2);
  std::vector<uint8_t> next(ksize);
  const void *cur = nullptr;
  Napi::Buffer<uint8_t> key;
  if (info.Length() > 1 && info[1].IsBuffer()) {
    key = info[1].As<Napi::Buffer<uint8_t>>();
    cur = key.Data();
  }
  if (bpf_map_get_next_key(fd, cur, next.data()) < 0) {
    if (errno == ENOENT) return info.Env().Null();
    throw SysError(info.Env(), "bpf_map_get_next_key", errno);
  }
  return Napi::Buffer<uint8_t>::Copy(info.Env(), next.data(), next.size());
}

// mapUpdateBatch(fd, keys, values, count, flags) -> number updated
Napi::Value MapUpdateBatch(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  auto keys = ArgBuf(info, 1);
  auto vals = ArgBuf(info, 2);
  uint32_t count = ArgInt(info, 3);
  int flags = info.Length() > 4 ? ArgInt(info, 4) : BPF_ANY;
  DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = (uint64_t)flags);
  uint32_t n = count;
  if (bpf_map_update_batch(fd, keys.Data(), vals.Data(), &n, &opts) < 0)
    throw SysError(info.Env(), "bpf_map_update_batch", errno, std::to_string(n) + " of " + std::to_string(count) + " written");
  return Napi::Number::New(info.Env(), n);
}

// mapDeleteBatch(fd, keys, count) -> number deleted
Napi::Value MapDeleteBatch(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  auto keys = ArgBuf(info, 1);
  uint32_t count = ArgInt(info, 2);
  DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint32_t n = count;
  if (bpf_map_delete_batch(fd, keys.Data(), &n, &opts) < 0 && errno != ENOENT)
    throw SysError(info.Env(), "bpf_map_delete_batch", errno);
  return Napi::Number::New(info.Env(), n);
}

// mapLookupBatch(fd, keySize, valueSize, maxCount, cursor | null)
//   -> { keys: Buffer, values: Buffer, count, cursor: Buffer | null (null = done) }
Napi::Value MapLookupBatch(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  int ksize = ArgInt(info, 1), vsize = ArgInt(info, 2);
  uint32_t max = ArgInt(info, 3);
  // hash maps use a 4-byte opaque batch token; keep room for any key size
  std::vector<uint8_t> in_batch(std::max(ksize, 8)), out_batch(std::max(ksize, 8));
  bool has_in = info.Length() > 4 && info[4].IsBuffer();
  if (has_in) {
    auto c = info[4].As<Napi::Buffer<uint8_t>>();
    memcpy(in_batch.data(), c.Data(), std::min(c.Length(), in_batch.size()));
  }
  std::vector<uint8_t> keys((size_t)ksize * max), vals((size_t)vsize * max);
  uint32_t n = max;
  DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
  int rc = bpf_map_lookup_batch(fd, has_in ? in_batch.data() : nullptr, out_batch.data(), keys.data(), vals.data(), &n, &opts);
  bool done = false;
  if (rc < 0) {
    if (errno == ENOENT) done = true;
    else throw SysError(info.Env(), "bpf_map_lookup_batch", errno);
  }
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), (size_t)ksize * n));
  o.Set("values", Napi::Buffer<uint8_t>::Copy(env, vals.data(), (size_t)vsize * n));
  o.Set("count", n);
  o.Set("cursor", done ? env.Null() : (Napi::Value)Napi::Buffer<uint8_t>::Copy(env, out_batch.data(), out_batch.size()));
  return o;
}

// ---------------------------------------------------------------------------------------------
// BPF_PROG_RUN

// One BPF_PROG_RUN on `in` (optionally with a context), the output frame copied back.
static Napi::Value TestRun(Napi::Env env, int fd, const Napi::Buffer<uint8_t> &in, int outsz, int repeat, void *ctx, size_t ctxSize) {
  std::vector<uint8_t> out(outsz);
  DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in.Data(), .data_out = out.data(),
                      .data_size_in = (uint32_t)in.Length(), .data_size_out = (uint32_t)out.size(),
                      .ctx_in = ctx, .ctx_size_in = (uint32_t)ctxSize, .repeat = repeat);
  int err = bpf_prog_test_run_opts(fd, &opts);
  if (err) throw SysError(env, "bpf_prog_test_run_opts", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("retval", opts.retval);
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, out.data(), std::min<size_t>(opts.data_size_out, out.size())));
  o.Set("duration", opts.duration);
  return o;
}

// progTestRun(progFd, data, repeat, dataOutSize) -> { retval, data, duration }
Napi::Value ProgTestRun(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  auto in = ArgBuf(info, 1);
  int repeat = info.Length() > 2 ? ArgInt(info, 2) : 1;
  int outsz = info.Length() > 3 ? ArgInt(info, 3) : (int)in.Length() + 4096;
  return TestRun(info.Env(), fd, in, outsz, repeat, nullptr, 0);
}

// progTestRunSkb(progFd, data, gsoSegs, gsoSize, dataOutSize) -> { retval, data, duration }
// A TC program on `data` (an Ethernet frame) as an skb that carries GSO metadata: gsoSegs > 1
// makes it a super-packet of that many segments of gsoSize payload bytes each.
Napi::Value ProgTestRunSkb(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  auto in = ArgBuf(info, 1);
  int segs = ArgInt(info, 2), size = ArgInt(info, 3);
  int outsz = info.Length() > 4 ? ArgInt(info, 4) : (int)in.Length() + 4096;
  struct __sk_buff skb = {};
  skb.gso_segs = (uint32_t)segs;
  skb.gso_size = (uint32_t)size;
  return TestRun(info.Env(), fd, in, outsz, 1, &skb, sizeof(skb));
}

// progRunSyscall(progFd, ctx) -> retval as a signed 32-bit number. Runs a BPF_PROG_TYPE_SYSCALL
// program once on `ctx`; the kernel writes the context back into `ctx` when it returns.
Napi::Value ProgRunSyscall(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  auto ctx = ArgBuf(info, 1);
  DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx.Data(), .ctx_size_in = (uint32_t)ctx.Length());
  int err = bpf_prog_test_run_opts(fd, &opts);
  if (err) throw SysError(info.Env(), "bpf_prog_test_run_opts", errno);
  return Napi::Number::New(info.Env(), (int32_t)opts.retval);
}

// ---------------------------------------------------------------------------------------------
// Ring buffers, consumed from the event loop

struct RingReader {
  ring_buffer *rb = nullptr;
  uv_poll_t poll;
  Napi::FunctionReference cb;
  std::vector<std::string> pending;
  int handle = 0;
  bool closing = false;
};
std::map<int, RingReader *> g_rings;

int RingSample(void *ctx, void *data, size_t size) {
  auto *r = static_cast<RingReader *>(ctx);
  r->pending.emplace_back(static_cast<const char *>(data), size);
  return 0;
}

void RingDeliver(RingReader *r, Napi::Env env) {
  if (r->pending.empty()) return;
  Napi::HandleScope scope(env);
  Napi::Array arr = Napi::Array::New(env, r->pending.size());
  for (size_t i = 0; i < r->pending.size(); i++)
    arr.Set(i, Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t *>(r->pending[i].data()), r->pending[i].size()));
  r->pending.clear();
  try {
    r->cb.MakeCallback(env.Global(), {arr});
  } catch (const Napi::Error &e) {
    // see PollStart: the callback's exception goes to the process, not through libuv
    napi_fatal_exception(env, e.Value());
  }
}

void RingOnReadable(uv_poll_t *p, int status, int events) {
  auto *r = static_cast<RingReader *>(p->data);
  if (r->closing) return;
  ring_buffer__consume(r->rb);
  RingDeliver(r, r->cb.Env());
}

Napi::Value RingOpen(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(info.Env(), "callback required");
  auto *r = new RingReader();
  r->rb = ring_buffer__new(fd, RingSample, r, nullptr);
  int err = libbpf_get_error(r->rb);
  if (err) {
    delete r;
    throw SysError(info.Env(), "ring_buffer__new", err);
  }
  r->cb = Napi::Persistent(info[1].As<Napi::Function>());
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(info.Env(), &loop);
  uv_poll_init(loop, &r->poll, ring_buffer__epoll_fd(r->rb));
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE, RingOnReadable);
  r->handle = g_next_handle++;
  g_rings[r->handle] = r;
  return Napi::Number::New(info.Env(), r->handle);
}

// ringPoll(handle): drain synchronously (for tests and shutdown)
Napi::Value RingPoll(const Napi::CallbackInfo &info) {
  auto it = g_rings.find(ArgInt(info, 0));
  if (it == g_rings.end()) return Napi::Number::New(info.Env(), 0);
  int n = ring_buffer__consume(it->second->rb);
  RingDeliver(it->second, info.Env());
  return Napi::Number::New(info.Env(), n);
}

// Unref'd readers do not keep the process alive.
Napi::Value RingUnref(const Napi::CallbackInfo &info) {
  auto it = g_rings.find(ArgInt(info, 0));
  if (it != g_rings.end()) uv_unref(reinterpret_cast<uv_handle_t *>(&it->second->poll));
  return info.Env().Undefined();
}

Napi::Value RingClose(const Napi::CallbackInfo &info) {
  auto it = g_rings.find(ArgInt(info, 0));
  if (it == g_rings.end()) return info.Env().Undefined();
  RingReader *r = it->second;
  g_rings.erase(it);
  r->closing = true;
  uv_poll_stop(&r->poll);
  uv_close(reinterpret_cast<uv_handle_t *>(&r->poll), [](uv_handle_t *h) {
    auto *rr = static_cast<RingReader *>(h->data);
    ring_buffer__free(rr->rb);
    rr->cb.Reset();
    delete rr;
  });
  return info.Env().Undefined();
}

// Socket buffer size: SO_*BUFFORCE ignores [rw]mem_max (we are root); the plain option otherwise.
void SetSocketBuffer(int fd, int force, int plain, int bytes) {
  if (bytes > 0 && setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof(bytes)) < 0)
    setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof(bytes));
}

// A receive batch for recvmmsg: `max` buffers of `size` bytes, each with its own source address
// of type Addr and `ctrlBytes` of control data. One per socket kind and thread, kept between
// calls: a batch of 64 x 2 KiB built (and zero-filled) on every call cost about 8 us, most of
// what a one-datagram receive took.
template <typename Addr>
struct RecvBatch {
  int max = 0, size = 0;
  size_t ctrlBytes = 0;
  std::unique_ptr<uint8_t[]> bufs;
  std::vector<mmsghdr> msgs;
  std::vector<iovec> iov;
  std::vector<Addr> addrs;
  std::vector<uint8_t> ctrl;

  // Lays the batch out for `max_` x `size_` (reallocating only when the shape changes) and resets
  // what recvmmsg overwrites: the address and control lengths are value-result (recvmmsg(2)).
  void prepare(int max_, int size_, size_t ctrlBytes_) {
    if (max_ != max || size_ != size || ctrlBytes_ != ctrlBytes) {
      max = max_;
      size = size_;
      ctrlBytes = ctrlBytes_;
      bufs.reset(new uint8_t[(size_t)max * size]);
      msgs.assign(max, mmsghdr{});
      iov.assign(max, iovec{});
      addrs.assign(max, Addr{});
      ctrl.assign(ctrlBytes * max, 0);
      for (int i = 0; i < max; i++) {
        iov[i].iov_base = bufs.get() + (size_t)i * size;
        iov[i].iov_len = size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        if (ctrlBytes > 0) msgs[i].msg_hdr.msg_control = ctrl.data() + ctrlBytes * i;
      }
    }
    for (int i = 0; i < max; i++) {
      msgs[i].msg_hdr.msg_namelen = sizeof(Addr);
      msgs[i].msg_hdr.msg_controllen = ctrlBytes;
      msgs[i].msg_hdr.msg_flags = 0;
    }
  }
  const uint8_t *data(int i) const { return bufs.get() + (size_t)i * size; }
};

// ---------------------------------------------------------------------------------------------
// AF_PACKET

// packetOpen(ifindex, ethertype, rcvbufBytes) -> fd (non-blocking, PACKET_AUXDATA on)
Napi::Value PacketOpen(const Napi::CallbackInfo &info) {
  int ifindex = ArgInt(info, 0), proto = ArgInt(info, 1);
  int rcvbuf = info.Length() > 2 ? ArgInt(info, 2) : 0;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(proto));
  if (fd < 0) throw SysError(info.Env(), "socket(AF_PACKET)", errno);
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0) {
    int e = errno;
    close(fd);
    throw SysError(info.Env(), "setsockopt(PACKET_AUXDATA)", e);
  }
  // the default 208 KB drops bursts
  SetSocketBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  sockaddr_ll sll;
  memset(&sll, 0, sizeof(sll));
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(proto);
  sll.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<sockaddr *>(&sll), sizeof(sll)) < 0) {
    int e = errno;
    close(fd);
    throw SysError(info.Env(), "bind(AF_PACKET)", e);
  }
  return Napi::Number::New(info.Env(), fd);
}

// The receive functions hand a batch over as one Buffer with the datagrams back to back and their
// metadata in the caller's Int32Array, `meta[0]` = count and then a fixed number of fields per
// datagram; JavaScript builds the objects (one N-API object with four named properties per
// datagram cost more than the datagram's own receive).
Napi::Int32Array ArgMeta(const Napi::CallbackInfo &info, size_t i, int max, int fields) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be an Int32Array");
  Napi::Int32Array meta = info[i].As<Napi::Int32Array>();
  if (meta.ElementLength() < (size_t)(1 + max * fields))
    throw Napi::RangeError::New(info.Env(), "meta must hold 1 + " + std::to_string(fields) + " x maxFrames entries");
  return meta;
}

// Copies the first `n` buffers of a batch into one Buffer, back to back; each one's length is the
// first of its `fields` entries in `meta` (after meta[0]).
template <typename Batch>
Napi::Value PackBatch(Napi::Env env, const Batch &b, int n, const int32_t *meta, int fields) {
  size_t total = 0;
  for (int i = 0; i < n; i++) total += meta[1 + i * fields];
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, total);
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    size_t len = meta[1 + i * fields];
    memcpy(out.Data() + at, b.data(i), len);
    at += len;
  }
  return out;
}

// packetRecv(fd, maxFrames, maxFrameBytes, meta: Int32Array) -> Buffer | null (nothing queued)
// meta: [count, then per frame: length, truncated, ifindex, pktType, vlanTci, vlanTpid];
// vlanTci/vlanTpid are -1 when the kernel stripped no tag.
Napi::Value PacketRecv(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  int max = std::max(1, std::min(ArgInt(info, 1), 256));
  int frame = ArgInt(info, 2);
  if (frame < 1 || frame > 65536) throw Napi::RangeError::New(info.Env(), "maxFrameBytes must be 1..65536");
  Napi::Int32Array meta = ArgMeta(info, 3, max, 6);
  static thread_local RecvBatch<sockaddr_ll> b;
  b.prepare(max, frame, CMSG_SPACE(sizeof(tpacket_auxdata)));
  int n = recvmmsg(fd, b.msgs.data(), max, MSG_DONTWAIT, nullptr);
  Napi::Env env = info.Env();
  meta[0] = 0;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return env.Null();
    throw SysError(env, "recvmmsg", errno);
  }
  for (int i = 0; i < n; i++) {
    int32_t *m = meta.Data() + 1 + i * 6;
    int tci = -1, tpid = -1;
    for (cmsghdr *c = CMSG_FIRSTHDR(&b.msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&b.msgs[i].msg_hdr, c)) {
      if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
      tpacket_auxdata aux;
      memcpy(&aux, CMSG_DATA(c), sizeof(aux));
      if (aux.tp_status & TP_STATUS_VLAN_VALID) {
        tci = aux.tp_vlan_tci;
        tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : ETH_P_8021Q;
      }
    }
    m[0] = (int32_t)std::min<size_t>(b.msgs[i].msg_len, frame);
    m[1] = b.msgs[i].msg_len > (unsigned)frame || (b.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
    m[2] = b.addrs[i].sll_ifindex;
    m[3] = b.addrs[i].sll_pkttype;
    m[4] = tci;
    m[5] = tpid;
  }
  meta[0] = n;
  return PackBatch(env, b, n, meta.Data(), 6);
}

// packetSend(fd, ifindex, frames: Buffer[]) -> number sent
Napi::Value PacketSend(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0), ifindex = ArgInt(info, 1);
  if (info.Length() < 3 || !info[2].IsArray()) throw Napi::TypeError::New(info.Env(), "frames must be an array of Buffers");
  Napi::Array arr = info[2].As<Napi::Array>();
  uint32_t count = arr.Length();
  std::vector<mmsghdr> msgs(count);
  std::vector<iovec> iov(count);
  std::vector<Napi::Buffer<uint8_t>> keep;
  keep.reserve(count);
  sockaddr_ll sll;
  memset(&sll, 0, sizeof(sll));
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_halen = 6;
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsBuffer()) throw Napi::TypeError::New(info.Env(), "frames must be an array of Buffers");
    keep.push_back(v.As<Napi::Buffer<uint8_t>>());
    iov[i].iov_base = keep.back().Data();
    iov[i].iov_len = keep.back().Length();
    memset(&msgs[i], 0, sizeof(mmsghdr));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &sll;
    msgs[i].msg_hdr.msg_namelen = sizeof(sll);
  }
  uint32_t sent = 0;
  while (sent < count) {
    int n = sendmmsg(fd, msgs.data() + sent, count - sent, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == ENOBUFS) && sent > 0) break;
      throw SysError(info.Env(), "sendmmsg", errno);
    }
    sent += n;
  }
  return Napi::Number::New(info.Env(), sent);
}

// packetSetFilter(fd, program: Buffer of struct sock_filter) -> undefined
// Attaches a classic BPF socket filter (SO_ATTACH_FILTER); replaces any earlier one.
Napi::Value PacketSetFilter(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  Napi::Buffer<uint8_t> prog = ArgBuf(info, 1);
  size_t len = prog.Length();
  if (len == 0 || len % sizeof(sock_filter) != 0 || len / sizeof(sock_filter) > BPF_MAXINSNS)
    throw Napi::TypeError::New(info.Env(), "program must hold 1.." + std::to_string(BPF_MAXINSNS) + " struct sock_filter (8 bytes each)");
  // copied so the instructions are aligned whatever the Buffer's offset in its ArrayBuffer
  std::vector<sock_filter> insns(len / sizeof(sock_filter));
  memcpy(insns.data(), prog.Data(), len);
  sock_fprog fprog;
  fprog.len = static_cast<unsigned short>(insns.size());
  fprog.filter = insns.data();
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0)
    throw SysError(info.Env(), "setsockopt(SO_ATTACH_FILTER)", errno);
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// UDP in batches (recvmmsg/sendmmsg): the relay side of the DHCP server, where node:dgram costs an
// event, a Buffer, an rinfo object and an address lookup per datagram.

// udpOpen(addr (host order u32), port, rcvbufBytes, sndbufBytes) -> fd (non-blocking, SO_REUSEADDR)
Napi::Value UdpOpen(const Napi::CallbackInfo &info) {
  uint32_t addr = static_cast<uint32_t>(info[0].As<Napi::Number>().Int64Value());
  int port = ArgInt(info, 1), rcvbuf = ArgInt(info, 2), sndbuf = ArgInt(info, 3);
  if (port < 0 || port > 65535) throw Napi::RangeError::New(info.Env(), "port must be 0..65535");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SysError(info.Env(), "socket(AF_INET, SOCK_DGRAM)", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  SetSocketBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  SetSocketBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  sockaddr_in sin;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  sin.sin_addr.s_addr = htonl(addr);
  if (bind(fd, reinterpret_cast<sockaddr *>(&sin), sizeof(sin)) < 0) {
    int e = errno;
    close(fd);
    throw SysError(info.Env(), "bind(AF_INET)", e);
  }
  return Napi::Number::New(info.Env(), fd);
}

// udpRecv(fd, maxDatagrams, maxBytes, meta: Int32Array) -> Buffer | null (nothing queued)
// meta: [count, then per datagram: length, source address (host order u32 as int32), port, truncated]
Napi::Value UdpRecv(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  int max = std::max(1, std::min(ArgInt(info, 1), 256));
  int size = ArgInt(info, 2);
  if (size < 1 || size > 65536) throw Napi::RangeError::New(info.Env(), "maxBytes must be 1..65536");
  Napi::Int32Array meta = ArgMeta(info, 3, max, 4);
  static thread_local RecvBatch<sockaddr_in> b;
  b.prepare(max, size, 0);
  int n = recvmmsg(fd, b.msgs.data(), max, MSG_DONTWAIT, nullptr);
  Napi::Env env = info.Env();
  meta[0] = 0;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return env.Null();
    throw SysError(env, "recvmmsg", errno);
  }
  for (int i = 0; i < n; i++) {
    int32_t *m = meta.Data() + 1 + i * 4;
    m[0] = (int32_t)std::min<size_t>(b.msgs[i].msg_len, size);
    m[1] = (int32_t)ntohl(b.addrs[i].sin_addr.s_addr);
    m[2] = ntohs(b.addrs[i].sin_port);
    m[3] = (b.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 ? 1 : 0;
  }
  meta[0] = n;
  return PackBatch(env, b, n, meta.Data(), 4);
}

// udpSend(fd, datagrams: Buffer[], addrs: number[] (host order u32), ports: number[]) -> [sent, lastErrno]
// A datagram the kernel refuses (no route, ICMP error pending) is skipped and the rest still go;
// on a full send buffer (EAGAIN) the remainder is not sent.
Napi::Value UdpSend(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0);
  if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsArray() || !info[3].IsArray())
    throw Napi::TypeError::New(env, "udpSend(fd, Buffer[], addrs[], ports[])");
  Napi::Array data = info[1].As<Napi::Array>(), addrs = info[2].As<Napi::Array>(), ports = info[3].As<Napi::Array>();
  uint32_t count = data.Length();
  if (addrs.Length() != count || ports.Length() != count) throw Napi::TypeError::New(env, "udpSend: arrays of different lengths");
  std::vector<mmsghdr> msgs(count);
  std::vector<iovec> iov(count);
  std::vector<sockaddr_in> to(count);
  std::vector<Napi::Buffer<uint8_t>> keep;
  keep.reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = data.Get(i);
    if (!v.IsBuffer()) throw Napi::TypeError::New(env, "udpSend: datagrams must be Buffers");
    keep.push_back(v.As<Napi::Buffer<uint8_t>>());
    iov[i].iov_base = keep.back().Data();
    iov[i].iov_len = keep.back().Length();
    memset(&to[i], 0, sizeof(sockaddr_in));
    to[i].sin_family = AF_INET;
    to[i].sin_addr.s_addr = htonl(static_cast<uint32_t>(addrs.Get(i).As<Napi::Number>().Int64Value()));
    to[i].sin_port = htons(static_cast<uint16_t>(ports.Get(i).As<Napi::Number>().Uint32Value()));
    memset(&msgs[i], 0, sizeof(mmsghdr));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
  }
  uint32_t at = 0, sent = 0;
  int lastErr = 0;
  while (at < count) {
    int n = sendmmsg(fd, msgs.data() + at, count - at, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      lastErr = errno;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      at++;  // this one failed: skip it, send the rest
      continue;
    }
    at += n;
    sent += n;
  }
  Napi::Array r = Napi::Array::New(env, 2);
  r.Set(0u, sent);
  r.Set(1u, lastErr);
  return r;
}

// Readability of any fd, delivered on the event loop: pollStart(fd, cb) -> handle
struct FdPoll {
  uv_poll_t poll;
  Napi::FunctionReference cb;
  bool closing = false;
};
std::map<int, FdPoll *> g_polls;

Napi::Value PollStart(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0);
  if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(info.Env(), "callback required");
  auto *p = new FdPoll();
  p->cb = Napi::Persistent(info[1].As<Napi::Function>());
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(info.Env(), &loop);
  int err = uv_poll_init(loop, &p->poll, fd);
  if (err) {
    delete p;
    throw SysError(info.Env(), "uv_poll_init", -err);
  }
  p->poll.data = p;
  uv_poll_start(&p->poll, UV_READABLE, [](uv_poll_t *h, int status, int events) {
    auto *pp = static_cast<FdPoll *>(h->data);
    if (pp->closing) return;
    Napi::Env env = pp->cb.Env();
    Napi::HandleScope scope(env);
    try {
      pp->cb.MakeCallback(env.Global(), {});
    } catch (const Napi::Error &e) {
      // a throwing callback is the process's uncaught exception, as for any Node callback; a C++
      // exception leaving this libuv callback would abort the process instead
      napi_fatal_exception(env, e.Value());
    }
  });
  int handle = g_next_handle++;
  g_polls[handle] = p;
  return Napi::Number::New(info.Env(), handle);
}

Napi::Value PollStop(const Napi::CallbackInfo &info) {
  auto it = g_polls.find(ArgInt(info, 0));
  if (it == g_polls.end()) return info.Env().Undefined();
  FdPoll *p = it->second;
  g_polls.erase(it);
  p->closing = true;
  uv_poll_stop(&p->poll);
  uv_close(reinterpret_cast<uv_handle_t *>(&p->poll), [](uv_handle_t *h) {
    auto *pp = static_cast<FdPoll *>(h->data);
    pp->cb.Reset();
    delete pp;
  });
  return info.Env().Undefined();
}

// Replaces the process image with `path` (argv, envp), keeping the PID, stdio (fds 0-2) and the
// CPU affinity: how `bng run` restarts itself with other node flags without a parent process
// left behind. Returns only by throwing.
Napi::Value ExecReplace(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsArray())
    throw Napi::TypeError::New(env, "execReplace(path, argv[], env[])");
  std::string path = info[0].As<Napi::String>();
  std::vector<std::string> strs[2];
  for (int k = 0; k < 2; k++) {
    Napi::Array a = info[k + 1].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) strs[k].push_back(a.Get(i).As<Napi::String>());
  }
  std::vector<char *> ptrs[2];
  for (int k = 0; k < 2; k++) {
    for (auto &x : strs[k]) ptrs[k].push_back(x.data());
    ptrs[k].push_back(nullptr);
  }
  // node marks the descriptors it opened stdio on close-on-exec; the new image keeps them
  for (int fd = 0; fd <= 2; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  execve(path.c_str(), ptrs[0].data(), ptrs[1].data());
  throw SysError(env, "execve", -errno, path);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(LibbpfPrint);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
#define EXPORT(name, fn) exports.Set(name, Napi::Function::New(env, fn, name))
  EXPORT("objectOpen", ObjectOpen);
  EXPORT("objectMaps", ObjectMaps);
  EXPORT("objectPrograms", ObjectPrograms);
  EXPORT("objectLoad", ObjectLoad);
  EXPORT("objectSectionVars", ObjectSectionVars);
  EXPORT("objectClose", ObjectClose);
  EXPORT("mapGetInitialValue", MapGetInitialValue);
  EXPORT("mapSetInitialValue", MapSetInitialValue);
  EXPORT("mapSetMaxEntries", MapSetMaxEntries);
  EXPORT("mapReuseFd", MapReuseFd);
  EXPORT("lastLibbpfLog", LastLibbpfLog);
  EXPORT("objGet", ObjGet);
  EXPORT("objPin", ObjPin);
  EXPORT("dupFd", DupFd);
  EXPORT("closeFd", CloseFd);
  EXPORT("mapInfo", MapInfo);
  EXPORT("progInfo", ProgInfo);
  EXPORT("progGetFdById", ProgGetFdById);
  EXPORT("numPossibleCpus", NumPossibleCpus);
  EXPORT("clockBoottimeNs", ClockBoottimeNs);
  EXPORT("execReplace", ExecReplace);
  EXPORT("ifNameToIndex", IfNameToIndex);
  EXPORT("xdpAttach", XdpAttach);
  EXPORT("xdpDetach", XdpDetach);
  EXPORT("xdpQuery", XdpQuery);
  EXPORT("tcAttach", TcAttach);
  EXPORT("tcDetach", TcDetach);
  EXPORT("mapLookup", MapLookup);
  EXPORT("mapUpdate", MapUpdate);
  EXPORT("mapDelete", MapDelete);
  EXPORT("mapGetNextKey", MapGetNextKey);
  EXPORT("mapUpdateBatch", MapUpdateBatch);
  EXPORT("mapDeleteBatch", MapDeleteBatch);
  EXPORT("mapLookupBatch", MapLookupBatch);
  EXPORT("progTestRun", ProgTestRun);
  EXPORT("progTestRunSkb", ProgTestRunSkb);
  EXPORT("progRunSyscall", ProgRunSyscall);
  EXPORT("ringOpen", RingOpen);
  EXPORT("ringPoll", RingPoll);
  EXPORT("ringUnref", RingUnref);
  EXPORT("ringClose", RingClose);
  EXPORT("packetOpen", PacketOpen);
  EXPORT("packetRecv", PacketRecv);
  EXPORT("packetSend", PacketSend);
  EXPORT("packetSetFilter", PacketSetFilter);
  EXPORT("udpOpen", UdpOpen);
  EXPORT("udpRecv", UdpRecv);
  EXPORT("udpSend", UdpSend);
  EXPORT("pollStart", PollStart);
  EXPORT("pollStop", PollStop);
#undef EXPORT
  // XDP attach flags, for the TypeScript side
  Napi::Object xdp = Napi::Object::New(env);
  xdp.Set("UPDATE_IF_NOEXIST", XDP_FLAGS_UPDATE_IF_NOEXIST);
  xdp.Set("SKB_MODE", XDP_FLAGS_SKB_MODE);
  xdp.Set("DRV_MODE", XDP_FLAGS_DRV_MODE);
  xdp.Set("HW_MODE", XDP_FLAGS_HW_MODE);
  exports.Set("xdpFlags", xdp);
  return exports;
}

}  // namespace

NODE_API_MODULE(bng_datapath, Init)
