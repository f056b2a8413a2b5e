// The TORCH plugin's C++ shim over libtorch: TorchScript models, TorchScript scripts compiled
// with RedisAI's resolver (torch, redis, redisAI), and the redis::/redisAI:: operators those
// scripts call. The C API is shim.h; no C++ exception crosses it.

#include "shim.h"

#include <torch/csrc/api/include/torch/cuda.h>
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/headeronly/version.h>
#include <torch/script.h>

#include <ATen/Parallel.h>

#include <strings.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using torch::jit::IValue;

// ---- errors --------------------------------------------------------------------------------

void put_text(const rt_bytes_sink *sink, const std::string &text) {
    if (sink != nullptr && sink->put != nullptr) {
        sink->put(sink->ctx, reinterpret_cast<const uint8_t *>(text.data()), text.size());
    }
}

std::string trim(const std::string &s) {
    const char *ws = " \t\r\n";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) {
        return "";
    }
    size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

// A TorchScript run-time failure comes as
//   The following operation failed in the TorchScript interpreter.
//   Traceback of TorchScript (most recent call last):
//     File "<string>", line 3, in f
//       ...
//   RuntimeError: <the message>
// Only the message is kept (as RedisAI clients expect, e.g. `list index out of range`). Other
// messages (e.g. compile errors, whose trailing newline clients see as a space) are kept whole.
std::string interpreter_message(const std::string &what) {
    static const std::string header = "The following operation failed in the TorchScript interpreter.";
    if (what.compare(0, header.size(), header) != 0) {
        return what;
    }
    // The message follows the last line that starts, in column 0, with "<Name>Error: " or
    // "<Name>Exception: "; the traceback's own lines are source code or indented.
    size_t best = std::string::npos;
    for (size_t pos = 0; pos < what.size();) {
        size_t eol = what.find('\n', pos);
        if (eol == std::string::npos) {
            eol = what.size();
        }
        size_t colon = what.find(": ", pos);
        if (colon != std::string::npos && colon < eol && colon > pos) {
            std::string name = what.substr(pos, colon - pos);
            bool ident = true;
            for (char c : name) {
                ident = ident && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.');
            }
            auto ends_with = [&](const std::string &suffix) {
                return name.size() >= suffix.size() &&
                       name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
            };
            if (ident && (ends_with("Error") || ends_with("Exception"))) {
                best = colon + 2;
            }
        }
        pos = eol + 1;
    }
    if (best == std::string::npos) {
        return what;
    }
    return trim(what.substr(best));
}

// Runs f, turning any exception into RT_ERROR and its message.
template <typename F> int guarded(const rt_bytes_sink *err, F &&f) {
    try {
        f();
        return RT_OK;
    } catch (const c10::Error &e) {
        put_text(err, interpreter_message(e.what_without_backtrace()));
    } catch (const std::exception &e) {
        put_text(err, interpreter_message(e.what()));
    } catch (...) {
        put_text(err, "TORCH backend: unknown C++ exception");
    }
    return RT_ERROR;
}

// ---- tensors -------------------------------------------------------------------------------

std::string type_name(uint8_t code, uint8_t bits) {
    switch (code) {
    case RT_DL_FLOAT:
        return bits == 16 ? "FLOAT16" : "FLOAT" + std::to_string(bits);
    case RT_DL_INT:
        return "INT" + std::to_string(bits);
    case RT_DL_UINT:
        return "UINT" + std::to_string(bits);
    case RT_DL_BOOL:
        return "BOOL";
    case 7:
        return "STRING";
    default:
        return "type code " + std::to_string(code) + " with " + std::to_string(bits) + " bits";
    }
}

at::ScalarType scalar_type(const rt_tensor &v) {
    if (v.lanes == 1) {
        switch (v.code) {
        case RT_DL_FLOAT:
            if (v.bits == 32) return at::kFloat;
            if (v.bits == 64) return at::kDouble;
            break;
        case RT_DL_INT:
            if (v.bits == 8) return at::kChar;
            if (v.bits == 16) return at::kShort;
            if (v.bits == 32) return at::kInt;
            if (v.bits == 64) return at::kLong;
            break;
        case RT_DL_UINT:
            if (v.bits == 8) return at::kByte;
            break;
        case RT_DL_BOOL:
            if (v.bits == 8) return at::kBool;
            break;
        default:
            break;
        }
    }
    throw std::runtime_error("The Torch backend does not support " + type_name(v.code, v.bits) +
                             " tensors (only FLOAT, DOUBLE, INT8, INT16, INT32, INT64, UINT8 "
                             "and BOOL)");
}

void dl_type(at::ScalarType t, uint8_t *code, uint8_t *bits) {
    switch (t) {
    case at::kFloat: *code = RT_DL_FLOAT; *bits = 32; return;
    case at::kDouble: *code = RT_DL_FLOAT; *bits = 64; return;
    case at::kChar: *code = RT_DL_INT; *bits = 8; return;
    case at::kShort: *code = RT_DL_INT; *bits = 16; return;
    case at::kInt: *code = RT_DL_INT; *bits = 32; return;
    case at::kLong: *code = RT_DL_INT; *bits = 64; return;
    case at::kByte: *code = RT_DL_UINT; *bits = 8; return;
    case at::kBool: *code = RT_DL_BOOL; *bits = 8; return;
    default:
        throw std::runtime_error(std::string("The Torch backend cannot return a tensor of type ") +
                                 c10::toString(t) +
                                 " (RedisAI tensors are FLOAT, DOUBLE, INT8, INT16, INT32, INT64, "
                                 "UINT8 or BOOL)");
    }
}

// A tensor owning a copy of the view's data.
at::Tensor from_view(const rt_tensor &v) {
    at::ScalarType st = scalar_type(v);
    std::vector<int64_t> shape(v.shape, v.shape + v.ndim);
    uint64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) {
            throw std::runtime_error("TORCH backend: negative tensor dimension");
        }
        if (d != 0 && n > UINT64_MAX / static_cast<uint64_t>(d)) {
            throw std::runtime_error("TORCH backend: tensor too large");
        }
        n *= static_cast<uint64_t>(d);
    }
    uint64_t elem = v.bits / 8;
    if (n > UINT64_MAX / elem || n * elem != v.byte_len) {
        throw std::runtime_error("TORCH backend: tensor data has " + std::to_string(v.byte_len) +
                                 " bytes, its shape and type need " + std::to_string(n * elem));
    }
    // BOOL bytes are copied as UINT8 and converted, so that any non-zero byte reads as true.
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st == at::kBool ? at::kByte : st));
    if (v.byte_len > 0) {
        std::memcpy(t.data_ptr(), v.data, v.byte_len);
    }
    return st == at::kBool ? t.to(at::kBool) : t;
}

// Sends `t` (moved to the CPU, made contiguous) to the sink.
void put_tensor(const rt_tensor_sink *sink, const at::Tensor &tensor) {
    if (!tensor.defined()) {
        throw std::runtime_error("TORCH backend: an output tensor is undefined");
    }
    at::Tensor t = tensor.to(at::kCPU).contiguous();
    rt_tensor v{};
    dl_type(t.scalar_type(), &v.code, &v.bits);
    v.lanes = 1;
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    v.ndim = static_cast<uint32_t>(shape.size());
    v.shape = shape.data();
    v.data = t.numel() > 0 ? t.data_ptr() : nullptr;
    v.byte_len = static_cast<uint64_t>(t.numel()) * t.element_size();
    v.string_offsets = nullptr;
    sink->put(sink->ctx, &v);
}

// Outputs: a tensor, or a tuple or list of tensors (flattened, in order).
void put_outputs(const IValue &out, const std::string &fn, const rt_tensor_sink *sink) {
    auto non_tensor = [&]() {
        return std::runtime_error("Function returned non-tensor values" + fn);
    };
    if (out.isTensor()) {
        put_tensor(sink, out.toTensor());
    } else if (out.isTuple()) {
        for (const IValue &e : out.toTupleRef().elements()) {
            if (!e.isTensor()) throw non_tensor();
            put_tensor(sink, e.toTensor());
        }
    } else if (out.isList()) {
        for (const IValue &e : out.toListRef()) {
            if (!e.isTensor()) throw non_tensor();
            put_tensor(sink, e.toTensor());
        }
    } else {
        throw non_tensor();
    }
}

c10::Device device_of(int32_t device) {
    if (device < 0) {
        return c10::Device(c10::kCPU);
    }
    if (!torch::cuda::is_available()) {
        throw std::runtime_error("GPU requested but Torch couldn't find CUDA");
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device));
}

// ---- the host of the script running on this thread -----------------------------------------

thread_local const rt_host *current_host = nullptr;

struct HostScope {
    const rt_host *saved;
    explicit HostScope(const rt_host *h) : saved(current_host) { current_host = h; }
    ~HostScope() { current_host = saved; }
    HostScope(const HostScope &) = delete;
    HostScope &operator=(const HostScope &) = delete;
};

// The sinks below are called from Rust: no exception may leave them.
void append_bytes(void *ctx, const uint8_t *data, size_t len) noexcept {
    try {
        if (len > 0) {
            static_cast<std::string *>(ctx)->append(reinterpret_cast<const char *>(data), len);
        }
    } catch (...) {
    }
}

// Tensors received from the host, or why one could not be taken.
struct Received {
    std::vector<at::Tensor> tensors;
    std::string error;
};

void append_tensor(void *ctx, const rt_tensor *t) noexcept {
    Received *r = static_cast<Received *>(ctx);
    if (!r->error.empty()) {
        return;
    }
    try {
        r->tensors.push_back(from_view(*t));
    } catch (const c10::Error &e) {
        r->error = e.what_without_backtrace();
    } catch (const std::exception &e) {
        r->error = e.what();
    } catch (...) {
        r->error = "TORCH backend: cannot take a tensor from the host";
    }
}

// Decodes the plugin ABI's Reply encoding (see backends/api: Reply::encode).
struct ReplyReader {
    const std::string &buf;
    size_t pos = 0;

    [[noreturn]] static void malformed() {
        throw std::runtime_error("TORCH backend: malformed Redis reply from the host");
    }
    uint64_t word() {
        if (buf.size() - pos < 8) malformed();
        uint64_t w = 0;
        for (int i = 7; i >= 0; i--) {
            w = (w << 8) | static_cast<uint8_t>(buf[pos + i]);
        }
        pos += 8;
        return w;
    }
    IValue read(int depth) {
        if (depth > 64 || pos >= buf.size()) malformed();
        char tag = buf[pos++];
        switch (tag) {
        case '_':
            return IValue();
        case ':':
            return IValue(static_cast<int64_t>(word()));
        case ',': {
            uint64_t w = word();
            double d;
            std::memcpy(&d, &w, sizeof d);
            return IValue(d);
        }
        case '$':
        case '-': {
            uint64_t n = word();
            if (n > buf.size() - pos) malformed();
            std::string s = buf.substr(pos, n);
            pos += n;
            return IValue(std::move(s));
        }
        case '*': {
            uint64_t n = word();
            if (n > buf.size() - pos) malformed();
            c10::impl::GenericList list(c10::AnyType::get());
            list.reserve(n);
            for (uint64_t i = 0; i < n; i++) {
                list.push_back(read(depth + 1));
            }
            return IValue(list);
        }
        default:
            malformed();
        }
    }
};

// redis.execute(cmd, args): a Redis command as the client that runs the script.
IValue redis_execute(const std::string &cmd, const std::vector<std::string> &args) {
    const rt_host *h = current_host;
    if (h == nullptr || h->redis_call == nullptr) {
        throw std::runtime_error("redis.execute can only be called from a script run");
    }
    std::vector<rt_bytes> argv;
    argv.reserve(args.size() + 1);
    argv.push_back({reinterpret_cast<const uint8_t *>(cmd.data()), cmd.size()});
    for (const std::string &a : args) {
        argv.push_back({reinterpret_cast<const uint8_t *>(a.data()), a.size()});
    }
    std::string buf;
    rt_bytes_sink sink{&buf, append_bytes};
    if (h->redis_call(h->ctx, argv.data(), argv.size(), &sink) != RT_OK) {
        throw std::runtime_error("Redis command returned an error: " + buf);
    }
    ReplyReader reader{buf};
    IValue v = reader.read(0);
    if (reader.pos != buf.size()) ReplyReader::malformed();
    return v;
}

// redis.execute(cmd): a command without arguments.
IValue redis_execute_cmd(const std::string &cmd) { return redis_execute(cmd, {}); }

// redis.asList(x): a reply known to be an array, typed as List[Any].
c10::List<IValue> redis_as_list(const IValue &v) {
    if (!v.isList()) {
        throw std::runtime_error("redis.asList: the value is not a list (it is " +
                                 v.type()->str() + ")");
    }
    return v.toList();
}

// redisAI.model_execute(key, inputs, num_outputs): runs a stored model.
std::vector<at::Tensor> model_execute(const std::string &key, const std::vector<at::Tensor> &inputs,
                                      int64_t num_outputs) {
    const rt_host *h = current_host;
    if (h == nullptr || h->model_execute == nullptr) {
        throw std::runtime_error("redisAI.model_execute can only be called from a script run");
    }
    std::vector<at::Tensor> keep;
    std::vector<std::vector<int64_t>> shapes;
    std::vector<rt_tensor> views;
    keep.reserve(inputs.size());
    shapes.reserve(inputs.size());
    for (const at::Tensor &in : inputs) {
        at::Tensor t = in.to(at::kCPU).contiguous();
        rt_tensor v{};
        dl_type(t.scalar_type(), &v.code, &v.bits);
        v.lanes = 1;
        shapes.emplace_back(t.sizes().begin(), t.sizes().end());
        v.ndim = static_cast<uint32_t>(shapes.back().size());
        v.shape = shapes.back().data();
        v.data = t.numel() > 0 ? t.data_ptr() : nullptr;
        v.byte_len = static_cast<uint64_t>(t.numel()) * t.element_size();
        keep.push_back(t);
        views.push_back(v);
    }
    Received received;
    std::string error;
    rt_tensor_sink out_sink{&received, append_tensor};
    rt_bytes_sink err_sink{&error, append_bytes};
    rt_bytes k{reinterpret_cast<const uint8_t *>(key.data()), key.size()};
    if (h->model_execute(h->ctx, k, views.data(), views.size(), &out_sink, &err_sink) != RT_OK) {
        throw std::runtime_error(error);
    }
    if (!received.error.empty()) {
        throw std::runtime_error(received.error);
    }
    std::vector<at::Tensor> &outputs = received.tensors;
    if (static_cast<int64_t>(outputs.size()) != num_outputs) {
        throw std::runtime_error("redisAI.model_execute: model " + key + " returned " +
                                 std::to_string(outputs.size()) + " outputs, num_outputs is " +
                                 std::to_string(num_outputs));
    }
    return std::move(outputs);
}

void register_ops() {
    // Never freed: the plugin is never unloaded, and the operators must outlive every script.
    // Held in a static rather than dropped, so leak checkers (make check-mem) see it reachable;
    // volatile, or the compiler drops the never-read pointer and valgrind sees a leak anyway.
    // A throw leaves it unset, and the next call tries again.
    static const torch::RegisterOperators *volatile registry = new torch::RegisterOperators(
        torch::RegisterOperators()
            .op("redis::execute(str cmd, str[] args) -> Any", &redis_execute)
            .op("redis::execute.cmd(str cmd) -> Any", &redis_execute_cmd)
            .op("redis::asList(Any x) -> Any[]", &redis_as_list)
            .op("redisAI::model_execute(str model_key, Tensor[] inputs, int num_outputs) "
                "-> Tensor[]",
                &model_execute));
    (void)registry;
}

// `torch`, `redis` and `redisAI` (case-insensitive, as RedisAI does); nothing else.
struct RedisResolver : public torch::jit::Resolver {
    std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string &name,
                                                           torch::jit::GraphFunction &,
                                                           const torch::jit::SourceRange &) override {
        if (strcasecmp(name.c_str(), "torch") == 0) {
            return std::make_shared<torch::jit::BuiltinModule>("aten");
        }
        if (strcasecmp(name.c_str(), "redis") == 0) {
            return std::make_shared<torch::jit::BuiltinModule>("redis");
        }
        if (strcasecmp(name.c_str(), "redisAI") == 0) {
            return std::make_shared<torch::jit::BuiltinModule>("redisAI");
        }
        return nullptr;
    }
    c10::TypePtr resolveType(const std::string &, const torch::jit::SourceRange &) override {
        return nullptr;
    }
};

int32_t arg_kind(const c10::TypePtr &type) {
    if (type->kind() == c10::TypeKind::TensorType) {
        return RT_ARG_TENSOR;
    }
    if (auto list = type->cast<c10::ListType>()) {
        c10::TypeKind elem = list->getElementType()->kind();
        if (elem == c10::TypeKind::TensorType) return RT_ARG_TENSOR_LIST;
        if (elem == c10::TypeKind::StringType) return RT_ARG_STRING_LIST;
    }
    return RT_ARG_OTHER;
}

struct Model {
    torch::jit::Module module;
    c10::Device device;
    std::vector<std::string> inputs;
    size_t n_outputs;
};

struct Script {
    std::shared_ptr<torch::jit::CompilationUnit> cu;
    c10::Device device;
};

torch::jit::Function *find_function(Script *s, const std::string &name) {
    if (name.empty()) {
        return nullptr;
    }
    try {
        return s->cu->find_function(c10::QualifiedName(name));
    } catch (...) {
        return nullptr;
    }
}

} // namespace

extern "C" {

const char *rt_torch_version(void) { return TORCH_VERSION; }

int rt_cuda_available(void) {
    try {
        return torch::cuda::is_available() ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

int rt_set_threads(int32_t intra_op, int32_t inter_op, const rt_bytes_sink *err) {
    return guarded(err, [&] {
        if (inter_op > 0) {
            // libtorch allows this once per process, before any inter-op work.
            static std::atomic<bool> done{false};
            if (!done.exchange(true) && at::get_num_interop_threads() != static_cast<size_t>(inter_op)) {
                at::set_num_interop_threads(inter_op);
            }
        }
        if (intra_op > 0 && at::get_num_threads() != static_cast<int>(intra_op)) {
            at::set_num_threads(intra_op);
        }
    });
}

int rt_init(const rt_bytes_sink *err) {
    return guarded(err, [] { register_ops(); });
}

int rt_model_load(const uint8_t *blob, size_t len, int32_t device, void **model,
                  const rt_bytes_sink *err) {
    return guarded(err, [&] {
        std::istringstream in(std::string(reinterpret_cast<const char *>(blob), len),
                              std::ios_base::binary);
        torch::jit::Module module = torch::jit::load(in);
        c10::Device dev = device_of(device);
        module.to(dev);
        module.eval();
        const c10::FunctionSchema &schema = module.get_method("forward").function().getSchema();
        std::vector<std::string> inputs;
        const auto &args = schema.arguments();
        for (size_t i = 1; i < args.size(); i++) {
            inputs.push_back(args[i].name());
        }
        size_t n_outputs = 1;
        if (schema.returns().size() == 1) {
            if (auto tuple = schema.returns()[0].type()->cast<c10::TupleType>()) {
                n_outputs = tuple->elements().size();
            }
        }
        *model = new Model{std::move(module), dev, std::move(inputs), n_outputs};
    });
}

void rt_model_input_names(void *model, const rt_bytes_sink *names) {
    for (const std::string &n : static_cast<Model *>(model)->inputs) {
        put_text(names, n);
    }
}

size_t rt_model_num_outputs(void *model) { return static_cast<Model *>(model)->n_outputs; }

int rt_model_run(void *model, const rt_tensor *inputs, size_t n_inputs,
                 const rt_tensor_sink *outputs, const rt_bytes_sink *err) {
    return guarded(err, [&] {
        Model *m = static_cast<Model *>(model);
        c10::InferenceMode guard;
        std::vector<IValue> stack;
        stack.reserve(n_inputs);
        for (size_t i = 0; i < n_inputs; i++) {
            stack.emplace_back(from_view(inputs[i]).to(m->device));
        }
        IValue out = m->module.get_method("forward")(std::move(stack));
        put_outputs(out, "forward", outputs);
    });
}

void rt_model_free(void *model) {
    try {
        delete static_cast<Model *>(model);
    } catch (...) {
    }
}

int rt_script_compile(const uint8_t *source, size_t len, int32_t device, void **script,
                      const rt_bytes_sink *err) {
    return guarded(err, [&] {
        register_ops();
        auto cu = std::make_shared<torch::jit::CompilationUnit>();
        cu->define(std::nullopt, std::string(reinterpret_cast<const char *>(source), len),
                   std::make_shared<RedisResolver>(), nullptr);
        c10::Device dev = device_of(device);
        *script = new Script{std::move(cu), dev};
    });
}

int64_t rt_script_signature(void *script, const uint8_t *name, size_t name_len, int32_t *kinds,
                            size_t cap) {
    try {
        torch::jit::Function *f = find_function(
            static_cast<Script *>(script), std::string(reinterpret_cast<const char *>(name), name_len));
        if (f == nullptr) {
            return -1;
        }
        const auto &args = f->getSchema().arguments();
        for (size_t i = 0; i < args.size() && i < cap; i++) {
            kinds[i] = arg_kind(args[i].type());
        }
        return static_cast<int64_t>(args.size());
    } catch (...) {
        return -1;
    }
}

int rt_script_run(void *script, const uint8_t *name, size_t name_len, int32_t mode,
                  const rt_tensor *inputs, size_t n_inputs, const rt_bytes *keys, size_t n_keys,
                  const rt_bytes *args, size_t n_args, const rt_host *host,
                  const rt_tensor_sink *outputs, const rt_bytes_sink *err) {
    return guarded(err, [&] {
        Script *s = static_cast<Script *>(script);
        std::string fn(reinterpret_cast<const char *>(name), name_len);
        torch::jit::Function *f = find_function(s, fn);
        if (f == nullptr) {
            throw std::runtime_error("Function does not exist: " + fn);
        }
        HostScope scope(host);
        c10::InferenceMode guard;
        auto input = [&](size_t i) { return from_view(inputs[i]).to(s->device); };
        std::vector<IValue> stack;
        if (mode == RT_CALL_ENTRY_POINT) {
            c10::List<at::Tensor> tensors;
            tensors.reserve(n_inputs);
            for (size_t i = 0; i < n_inputs; i++) {
                tensors.push_back(input(i));
            }
            auto strings = [](const rt_bytes *b, size_t n) {
                c10::List<std::string> list;
                list.reserve(n);
                for (size_t i = 0; i < n; i++) {
                    list.push_back(std::string(reinterpret_cast<const char *>(b[i].data), b[i].len));
                }
                return list;
            };
            stack.emplace_back(std::move(tensors));
            stack.emplace_back(strings(keys, n_keys));
            stack.emplace_back(strings(args, n_args));
        } else {
            // Legacy ("best effort") calling of AI.SCRIPTSET scripts, as RedisAI does it.
            const auto &params = f->getSchema().arguments();
            if (params.size() > n_inputs) {
                throw std::runtime_error("Wrong number of inputs provided to function: " + fn);
            }
            for (const auto &p : params) {
                int32_t k = arg_kind(p.type());
                if (k != RT_ARG_TENSOR && k != RT_ARG_TENSOR_LIST) {
                    throw std::runtime_error("Unsupported input type in function definition: " + fn);
                }
            }
            for (size_t i = 0; i < params.size(); i++) {
                if (arg_kind(params[i].type()) == RT_ARG_TENSOR) {
                    stack.emplace_back(input(i));
                } else {
                    c10::List<at::Tensor> rest;
                    for (size_t j = i; j < n_inputs; j++) {
                        rest.push_back(input(j));
                    }
                    stack.emplace_back(std::move(rest));
                    break;
                }
            }
        }
        IValue out = (*f)(std::move(stack));
        put_outputs(out, fn, outputs);
    });
}

void rt_script_free(void *script) {
    try {
        delete static_cast<Script *>(script);
    } catch (...) {
    }
}

int rt_save_module(const char *source, size_t n_params, const char *const *names,
                   const float *const *data, const int64_t *ndims, const int64_t *const *shapes,
                   const char *path, const rt_bytes_sink *err) {
    return guarded(err, [&] {
        register_ops();
        torch::jit::Module module(c10::QualifiedName("__torch__.RedisAITestModel"));
        for (size_t i = 0; i < n_params; i++) {
            std::vector<int64_t> shape(shapes[i], shapes[i] + ndims[i]);
            at::Tensor t = torch::from_blob(const_cast<float *>(data[i]), shape,
                                            at::TensorOptions().dtype(at::kFloat))
                               .clone();
            module.register_parameter(names[i], t, false);
        }
        module.define(source, std::make_shared<RedisResolver>());
        module.save(path);
    });
}

} // extern "C"
