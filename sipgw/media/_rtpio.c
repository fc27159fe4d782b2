/* sipgw.media._rtpio: batched UDP receive and direct sends for the RTP path (Linux).
 *
 * The accelerated media path (docs/performance.md, "The native media path") reads every
 * call's RTP and RTCP sockets in batches instead of one event-loop callback per datagram:
 * a Poller holds the sockets in an epoll set of its own; drain() asks epoll which are
 * readable and takes what each holds with recvmmsg(2), the kernel's receive time of each
 * datagram included (SO_TIMESTAMPNS), mapped onto the event loop's clock by its age (the loop's
 * ``now`` less how long ago the kernel stamped it), whatever clock the loop keeps.
 * send() is sendto(2) straight from the caller's bytes.
 *
 * Direct slots: a socket that had datagrams at DIRECT_AFTER ticks in a row, and whose
 * caller allows it (allow_direct: nobody listens to its audio between ticks), leaves the
 * epoll set and is read at every tick (drain(..., tick=True)) with recvmmsg alone, until
 * it has nothing at IDLE_AFTER ticks in a row: a stream with a packet at every tick then
 * costs no epoll bookkeeping (ep_poll_callback when a datagram comes, the re-poll in
 * epoll_wait: 6 % of the echo gateway's CPU at 400 calls). Between ticks only the epoll
 * set is read, as before; a direct socket's datagrams wait for the tick, where they
 * would be played anyway.
 *
 * Routes (the shared RTP port, media/shared_port.py): a datagram on a socket from a source
 * the caller routed comes out tagged with the route's token instead of the socket's, and
 * with one (host, port) tuple kept for that source: on a socket every call shares, the
 * caller's table lookup and a new address tuple a datagram are spared.
 *
 * Held sends: between hold_sends() and flush(), send() queues its datagrams and flush()
 * gives each socket's run of them to sendmmsg(2), one system call for many calls' packets
 * on the shared socket; outside that window send() is a direct sendto(2).
 *
 * Nothing here knows RTP: datagrams come out as (token, data, (host, port), arrival) and
 * the compiled media code (media/session.py) judges them exactly as on the pure-Python
 * path. Tokens are the small integers the caller chose when adding a socket.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 16         /* datagrams per recvmmsg call */
#define MAX_EVENTS 256   /* sockets per epoll_wait */
#define DATAGRAM_MAX 2048 /* RTP over UDP: far above 172 octets; larger datagrams are cut */
#define DIRECT_AFTER 3    /* ticks in a row with datagrams before a socket is read directly */
#define IDLE_AFTER 3      /* ticks in a row without, before it is watched by epoll again */
#define SEND_BATCH 256    /* datagrams per sendmmsg call (the kernel takes at most 1024) */

/* A source address as a route's key: IPv4-mapped IPv6 spelled as IPv4 (a dual-stack
 * socket sees an IPv4 peer that way), every unused octet zero, so keys compare whole. */
typedef struct {
    uint8_t family; /* 4 or 6; 0: not an IP address */
    uint8_t unused;
    uint16_t port;  /* network order */
    uint8_t addr[16];
} Key;

typedef struct {
    Py_ssize_t socket;  /* the token of the socket its datagrams arrive on; -1: free */
    Key key;
    PyObject *to;       /* the token its datagrams are tagged with */
    PyObject *addr;     /* the source as (host, port), made at its first datagram */
} Route;

typedef struct {
    int fd;
    PyObject *data;     /* a bytes object, held until sent */
    struct sockaddr_storage to;
    socklen_t to_len;
} Outgoing;

typedef struct {
    int fd;                        /* -1: free */
    struct sockaddr_storage last;  /* the last source seen */
    socklen_t last_len;
    PyObject *last_addr;           /* its (host, port) tuple, reused while the source stays */
    PyObject *token;               /* the slot's token as an int, made once: not one a datagram */
    unsigned long errors;          /* receive errors (ICMP port unreachable, ...) */
    char may_direct;               /* the caller allows reading it at the ticks only */
    char direct;                   /* out of the epoll set, read at every tick */
    char fed;                      /* datagrams were read from it since the last tick */
    int streak;                    /* ticks in a row with datagrams (watched) or without (direct) */
    Py_ssize_t routes;             /* routes from this socket's sources */
} Slot;

typedef struct {
    PyObject_HEAD
    int epfd;
    Slot *slots;
    Py_ssize_t nslots;
    unsigned long long datagrams;  /* datagrams received */
    unsigned long long truncated;  /* datagrams longer than DATAGRAM_MAX, dropped */
    unsigned long long wakeups;    /* drain() calls that found something */
    unsigned long long promotions; /* sockets that became direct */
    unsigned long long demotions;  /* direct sockets watched by epoll again */
    unsigned long long routed;     /* datagrams tagged by a route */
    unsigned long long batched;    /* datagrams sent by flush() */
    unsigned long long sendmmsgs;  /* sendmmsg calls made by flush() */
    unsigned long long send_errors; /* datagrams flush() could not send (a full buffer, ...) */
    /* routes: open addressing, linear probing, capacity a power of two, at most half full */
    Route *routes;
    Py_ssize_t nroutes, route_cap;
    /* held sends */
    int holding;
    Outgoing *queue;
    Py_ssize_t queued, queue_cap;
    struct mmsghdr out_msgs[SEND_BATCH];
    struct iovec out_iovs[SEND_BATCH];
    /* receive buffers, reused */
    struct mmsghdr msgs[BATCH];
    struct iovec iovs[BATCH];
    struct sockaddr_storage addrs[BATCH];
    char bufs[BATCH][DATAGRAM_MAX];
    char ctrl[BATCH][CMSG_SPACE(sizeof(struct timespec)) + 64];
} Poller;

static double
clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static PyObject *
address_tuple(const struct sockaddr_storage *addr)
{
    char host[INET6_ADDRSTRLEN];
    int port;
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    } else {
        return Py_BuildValue("(si)", "", 0);
    }
    return Py_BuildValue("(si)", host, port);
}

static int
same_address(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b,
             socklen_t blen)
{
    if (alen != blen || a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return 0;
}

/* The slot of a socket being read, by its token; NULL for a token not in use. */
static Slot *
live_slot(Poller *self, Py_ssize_t token)
{
    if (token < 0 || token >= self->nslots || self->slots[token].fd == -1)
        return NULL;
    return &self->slots[token];
}

/* A slot's state forgotten (its receive-error count stays until the token is reused). */
static void
forget_slot(Slot *slot)
{
    slot->last_len = 0;
    Py_CLEAR(slot->last_addr);
    Py_CLEAR(slot->token);
    slot->may_direct = slot->direct = slot->fed = 0;
    slot->streak = 0;
}

/* The socket into the epoll set, its events tagged with its token. */
static int
watch(Poller *self, Py_ssize_t token, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)token};
    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* The first n headers ready for recvmmsg again: the kernel writes back only the lengths
 * and the flags (the pointers stay), so a read of one datagram resets one header, not all. */
static void
rearm(Poller *self, int n)
{
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &self->msgs[i].msg_hdr;
        h->msg_namelen = sizeof self->addrs[i];
        h->msg_controllen = sizeof self->ctrl[i];
        h->msg_flags = 0;
    }
}


/* ------------------------------------------------------------------------ routes */

static void
key_of(const struct sockaddr_storage *addr, Key *key)
{
    memset(key, 0, sizeof *key);
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        key->family = 4;
        key->port = in->sin_port;
        memcpy(key->addr, &in->sin_addr, 4);
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        key->port = in6->sin6_port;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            key->family = 4;
            memcpy(key->addr, &in6->sin6_addr.s6_addr[12], 4);
        } else {
            key->family = 6;
            memcpy(key->addr, &in6->sin6_addr, 16);
        }
    }
}

/* (host, port) as a socket address; 0 when host is no IP address. */
static int
fill_address(const char *host, long port, struct sockaddr_storage *addr, socklen_t *len)
{
    memset(addr, 0, sizeof *addr);
    if (port < 0 || port > 65535)
        return 0;
    if (strchr(host, ':') == NULL) {
        struct sockaddr_in *in = (struct sockaddr_in *)addr;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
        return inet_pton(AF_INET, host, &in->sin_addr) == 1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1;
}

/* A route's key from the caller's (host, port); 0 when host is no IP address. */
static int
key_parse(const char *host, long port, Key *key)
{
    struct sockaddr_storage addr;
    socklen_t len;
    if (!fill_address(host, port, &addr, &len))
        return 0;
    key_of(&addr, key);
    return 1;
}

static size_t
route_hash(Py_ssize_t socket, const Key *key)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)socket;
    const uint8_t *p = (const uint8_t *)key;
    for (size_t i = 0; i < sizeof *key; i++)
        h = (h ^ p[i]) * 1099511628211ULL; /* FNV-1a */
    return (size_t)h;
}

/* The route of (socket, key), or the free cell where it would go; NULL with no table. */
static Route *
route_cell(Poller *self, Py_ssize_t socket, const Key *key)
{
    if (self->route_cap == 0)
        return NULL;
    size_t mask = (size_t)self->route_cap - 1;
    for (size_t i = route_hash(socket, key) & mask;; i = (i + 1) & mask) {
        Route *r = &self->routes[i];
        if (r->socket == -1 || (r->socket == socket && memcmp(&r->key, key, sizeof *key) == 0))
            return r;
    }
}

static void
route_clear(Route *r)
{
    r->socket = -1;
    Py_CLEAR(r->to);
    Py_CLEAR(r->addr);
}

static int
routes_grow(Poller *self)
{
    Py_ssize_t cap = self->route_cap ? self->route_cap * 2 : 64;
    Route *old = self->routes;
    Py_ssize_t old_cap = self->route_cap;
    Route *routes = PyMem_Calloc((size_t)cap, sizeof(Route));
    if (routes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < cap; i++)
        routes[i].socket = -1;
    self->routes = routes;
    self->route_cap = cap;
    for (Py_ssize_t i = 0; i < old_cap; i++) {
        if (old[i].socket != -1)
            *route_cell(self, old[i].socket, &old[i].key) = old[i]; /* references move */
    }
    PyMem_Free(old);
    return 0;
}

/* Take a route out; the cells after it in its probe run move up (no tombstones). */
static void
route_delete(Poller *self, Route *r)
{
    Slot *slot = r->socket < self->nslots ? &self->slots[r->socket] : NULL;
    if (slot != NULL && slot->routes > 0)
        slot->routes--;
    route_clear(r);
    self->nroutes--;
    size_t mask = (size_t)self->route_cap - 1;
    size_t hole = (size_t)(r - self->routes);
    for (size_t i = (hole + 1) & mask; self->routes[i].socket != -1; i = (i + 1) & mask) {
        size_t home = route_hash(self->routes[i].socket, &self->routes[i].key) & mask;
        /* it may fill the hole when its home is not in (hole, i] (cyclically) */
        if ((i > hole) ? (home <= hole || home > i) : (home <= hole && home > i)) {
            self->routes[hole] = self->routes[i];
            self->routes[i].socket = -1;
            self->routes[i].to = NULL;
            self->routes[i].addr = NULL;
            hole = i;
        }
    }
}

/* Every route of a socket taken out (it is no longer read). */
static void
routes_forget(Poller *self, Py_ssize_t socket)
{
    if (socket >= self->nslots || self->slots[socket].routes == 0)
        return;
    for (Py_ssize_t i = 0; i < self->route_cap && self->slots[socket].routes > 0;) {
        if (self->routes[i].socket == socket)
            route_delete(self, &self->routes[i]); /* another may have moved into i */
        else
            i++;
    }
}

/* ------------------------------------------------------------------------ sends */

/* (host, port) as a socket address; 0 and a ValueError when it is none. */
static int
parse_destination(const char *host, long port, struct sockaddr_storage *addr, socklen_t *len)
{
    if (fill_address(host, port, addr, len))
        return 1;
    if (port < 0 || port > 65535)
        PyErr_Format(PyExc_ValueError, "not a port: %ld", port);
    else
        PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
    return 0;
}

/* The arguments of send() and the module's sendto(): (fd, data, host, port); 0 and an error
 * when they are not that (``name``: the function's, for the message). */
static int
send_args(const char *name, PyObject *const *args, Py_ssize_t nargs, int *fd, const char **host,
          long *port)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "%s(fd, data, host, port)", name);
        return 0;
    }
    *fd = PyLong_AsLong(args[0]);
    if (*fd == -1 && PyErr_Occurred())
        return 0;
    *host = PyUnicode_AsUTF8(args[2]);
    *port = PyLong_AsLong(args[3]);
    return *host != NULL && !(*port == -1 && PyErr_Occurred());
}

/* One datagram sent now: 0 when it went, else the errno; NULL and an error when data is no
 * buffer or (host, port) no IP address. */
static PyObject *
send_now(int fd, PyObject *data, const char *host, long port)
{
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    struct sockaddr_storage to;
    socklen_t len;
    if (!parse_destination(host, port, &to, &len)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    ssize_t sent = sendto(fd, view.buf, (size_t)view.len, MSG_DONTWAIT, (struct sockaddr *)&to, len);
    PyBuffer_Release(&view);
    return PyLong_FromLong(sent < 0 ? errno : 0);
}

/* The queue sent: each run of one socket's datagrams by sendmmsg, SEND_BATCH at a time; a
 * datagram the kernel refuses (a full buffer, an ICMP error of an earlier send) is
 * counted and skipped. Every queued reference is released. */
static void
flush_queue(Poller *self)
{
    Py_ssize_t i = 0;
    while (i < self->queued) {
        int fd = self->queue[i].fd;
        int n = 0;
        while (n < SEND_BATCH && i + n < self->queued && self->queue[i + n].fd == fd) {
            Outgoing *o = &self->queue[i + n];
            self->out_iovs[n].iov_base = PyBytes_AS_STRING(o->data);
            self->out_iovs[n].iov_len = (size_t)PyBytes_GET_SIZE(o->data);
            struct msghdr *h = &self->out_msgs[n].msg_hdr;
            memset(h, 0, sizeof *h);
            h->msg_name = &o->to;
            h->msg_namelen = o->to_len;
            h->msg_iov = &self->out_iovs[n];
            h->msg_iovlen = 1;
            n++;
        }
        int done = 0;
        while (done < n) {
            int sent = sendmmsg(fd, self->out_msgs + done, (unsigned int)(n - done), MSG_DONTWAIT);
            self->sendmmsgs++;
            if (sent < 0) {
                if (errno == EINTR)
                    continue;
                self->send_errors++; /* this one refused: the rest may go */
                done++;
            } else {
                self->batched += (unsigned long long)sent;
                done += sent;
            }
        }
        i += n;
    }
    for (Py_ssize_t k = 0; k < self->queued; k++)
        Py_CLEAR(self->queue[k].data);
    self->queued = 0;
}

static int
Poller_init(Poller *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist))
        return -1;
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->slots = NULL;
    self->nslots = 0;
    self->routes = NULL;
    self->nroutes = self->route_cap = 0;
    self->holding = 0;
    self->queue = NULL;
    self->queued = self->queue_cap = 0;
    for (int i = 0; i < BATCH; i++) {
        self->iovs[i].iov_base = self->bufs[i];
        self->iovs[i].iov_len = DATAGRAM_MAX;
        struct msghdr *h = &self->msgs[i].msg_hdr;
        h->msg_name = &self->addrs[i];
        h->msg_iov = &self->iovs[i];
        h->msg_iovlen = 1;
        h->msg_control = self->ctrl[i];
    }
    rearm(self, BATCH);
    return 0;
}

static void
Poller_dealloc(Poller *self)
{
    if (self->epfd >= 0)
        close(self->epfd);
    for (Py_ssize_t i = 0; i < self->nslots; i++) {
        Py_XDECREF(self->slots[i].last_addr);
        Py_XDECREF(self->slots[i].token);
    }
    PyMem_Free(self->slots);
    for (Py_ssize_t i = 0; i < self->route_cap; i++)
        route_clear(&self->routes[i]);
    PyMem_Free(self->routes);
    for (Py_ssize_t i = 0; i < self->queued; i++)
        Py_XDECREF(self->queue[i].data);
    PyMem_Free(self->queue);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Poller_add(Poller *self, PyObject *args)
{
    int fd;
    Py_ssize_t token;
    if (!PyArg_ParseTuple(args, "in", &fd, &token))
        return NULL;
    if (token < 0 || token > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "token must be in 0..2**24");
        return NULL;
    }
    if (token >= self->nslots) {
        Py_ssize_t n = self->nslots ? self->nslots : 64;
        while (n <= token)
            n *= 2;
        Slot *slots = PyMem_Realloc(self->slots, (size_t)n * sizeof(Slot));
        if (slots == NULL)
            return PyErr_NoMemory();
        memset(&slots[self->nslots], 0, (size_t)(n - self->nslots) * sizeof(Slot));
        for (Py_ssize_t i = self->nslots; i < n; i++)
            slots[i].fd = -1;
        self->slots = slots;
        self->nslots = n;
    }
    Slot *slot = &self->slots[token];
    if (slot->fd != -1) {
        PyErr_Format(PyExc_ValueError, "token %zd is in use", token);
        return NULL;
    }
    PyObject *token_object = PyLong_FromSsize_t(token);
    if (token_object == NULL)
        return NULL;
    int on = 1;
    /* the kernel's receive time of each datagram, as CLOCK_REALTIME */
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) {
        Py_DECREF(token_object);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (watch(self, token, fd) < 0) {
        Py_DECREF(token_object);
        return NULL;
    }
    forget_slot(slot);
    slot->fd = fd;
    slot->token = token_object;
    slot->errors = 0;
    Py_RETURN_NONE;
}

static PyObject *
Poller_remove(Poller *self, PyObject *args)
{
    Py_ssize_t token;
    if (!PyArg_ParseTuple(args, "n", &token))
        return NULL;
    Slot *slot = live_slot(self, token);
    if (slot == NULL)
        Py_RETURN_NONE;
    /* the socket may be closed already (then epoll has dropped it) */
    if (!slot->direct)
        epoll_ctl(self->epfd, EPOLL_CTL_DEL, slot->fd, NULL);
    routes_forget(self, token);
    slot->fd = -1;
    forget_slot(slot);
    Py_RETURN_NONE;
}

static PyObject *
Poller_errors(Poller *self, PyObject *args)
{
    Py_ssize_t token;
    if (!PyArg_ParseTuple(args, "n", &token))
        return NULL;
    if (token < 0 || token >= self->nslots)
        return PyLong_FromLong(0);
    return PyLong_FromUnsignedLong(self->slots[token].errors);
}

/* The lists drain() appends to, one entry per datagram in each. */
typedef struct {
    PyObject *tokens, *datas, *sources, *arrivals;
} Columns;

static int
append_new(PyObject *list, PyObject *item)
{
    if (item == NULL)
        return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

/* Take what one socket holds (at most BATCH datagrams a call, until it is empty). */
static int
drain_socket(Poller *self, Py_ssize_t token, double stamped_at, double now, Columns *out,
             Py_ssize_t *count)
{
    Slot *slot = &self->slots[token];
    for (;;) {
        int n = recvmmsg(slot->fd, self->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            rearm(self, 1); /* nothing was received; the first header, to be sure */
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            slot->errors++; /* ECONNREFUSED (an ICMP error) and the like: keep going */
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
                continue;
            return 0;
        }
        int failed = 0;
        for (int i = 0; i < n && !failed; i++) {
            struct msghdr *h = &self->msgs[i].msg_hdr;
            if (h->msg_flags & MSG_TRUNC) {
                self->truncated++;
                continue;
            }
            double arrival = now;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(c), sizeof ts);
                    double age = stamped_at - ((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
                    arrival = age > 0 ? now - age : now; /* never after the drain */
                }
            }
            PyObject *addr;
            PyObject *tag = slot->token;
            Route *route = NULL;
            if (slot->routes > 0) {
                Key key;
                key_of(&self->addrs[i], &key);
                route = route_cell(self, token, &key);
                if (route != NULL && route->socket == -1)
                    route = NULL;
            }
            if (route != NULL) {
                if (route->addr == NULL) {
                    route->addr = address_tuple(&self->addrs[i]);
                    if (route->addr == NULL) {
                        failed = 1;
                        break;
                    }
                }
                addr = route->addr;
                Py_INCREF(addr);
                tag = route->to;
                self->routed++;
            } else if (slot->last_addr != NULL &&
                same_address(&self->addrs[i], h->msg_namelen, &slot->last, slot->last_len)) {
                addr = slot->last_addr;
                Py_INCREF(addr);
            } else {
                addr = address_tuple(&self->addrs[i]);
                if (addr == NULL) {
                    failed = 1;
                    break;
                }
                Py_XSETREF(slot->last_addr, addr);
                Py_INCREF(addr);
                memcpy(&slot->last, &self->addrs[i], h->msg_namelen);
                slot->last_len = h->msg_namelen;
            }
            if (append_new(out->sources, addr) < 0 || PyList_Append(out->tokens, tag) < 0 ||
                append_new(out->datas, PyBytes_FromStringAndSize(
                                           self->bufs[i], (Py_ssize_t)self->msgs[i].msg_len)) < 0 ||
                append_new(out->arrivals, PyFloat_FromDouble(arrival)) < 0) {
                failed = 1;
                break;
            }
            self->datagrams++;
            slot->fed = 1;
            (*count)++;
        }
        rearm(self, n);
        if (failed)
            return -1;
        if (n < BATCH)
            return 0;
    }
}

PyDoc_STRVAR(drain_doc,
"drain(now, tokens, datas, sources, arrivals, tick=False) -> count\n\n"
"Every datagram the sockets hold right now, appended to the four lists (one entry per\n"
"datagram in each: its socket's token, its bytes, its (host, port), its arrival).\n"
"``now`` is the loop's time; ``arrival`` is each datagram's kernel receive time on that\n"
"clock: ``now`` less the datagram's age (``now`` when the kernel gave none). Columns, not a\n"
"tuple per datagram: nothing the garbage collector tracks is made per datagram.\n"
"With ``tick``, the direct sockets too (read at the ticks only), and each socket's\n"
"streak is counted: which become direct, which are watched by epoll again.");

/* A direct socket back into the epoll set. */
static int
watch_again(Poller *self, Py_ssize_t token, Slot *slot)
{
    if (watch(self, token, slot->fd) < 0)
        return -1;
    slot->direct = 0;
    slot->streak = 0;
    self->demotions++;
    return 0;
}

/* A watched socket out of the epoll set: read at every tick from now on. */
static int
read_directly(Poller *self, Slot *slot)
{
    if (epoll_ctl(self->epfd, EPOLL_CTL_DEL, slot->fd, NULL) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    slot->direct = 1;
    slot->streak = 0;
    self->promotions++;
    return 0;
}

static PyObject *
Poller_drain(Poller *self, PyObject *args)
{
    double now;
    int tick = 0;
    Columns out;
    if (!PyArg_ParseTuple(args, "dO!O!O!O!|p", &now, &PyList_Type, &out.tokens, &PyList_Type,
                          &out.datas, &PyList_Type, &out.sources, &PyList_Type, &out.arrivals,
                          &tick))
        return NULL;
    /* the kernel stamps on CLOCK_REALTIME: each datagram's age is read against it, once a
     * drain, and taken from ``now`` (the loop's clock need not be CLOCK_MONOTONIC) */
    double stamped_at = clock_seconds(CLOCK_REALTIME);
    struct epoll_event events[MAX_EVENTS];
    Py_ssize_t count = 0;
    for (;;) {
        int n = epoll_wait(self->epfd, events, MAX_EVENTS, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        for (int i = 0; i < n; i++) {
            Py_ssize_t token = (Py_ssize_t)events[i].data.u64;
            if (live_slot(self, token) == NULL)
                continue;
            if (drain_socket(self, token, stamped_at, now, &out, &count) < 0)
                return NULL;
        }
        if (n < MAX_EVENTS)
            break;
    }
    if (tick) {
        for (Py_ssize_t token = 0; token < self->nslots; token++) {
            Slot *slot = &self->slots[token];
            if (slot->fd == -1)
                continue;
            if (slot->direct) {
                if (drain_socket(self, token, stamped_at, now, &out, &count) < 0)
                    return NULL;
                if (slot->fed)
                    slot->streak = 0;
                else if (++slot->streak >= IDLE_AFTER && watch_again(self, token, slot) < 0)
                    return NULL;
            } else if (!slot->fed || !slot->may_direct) {
                slot->streak = 0;
            } else if (++slot->streak >= DIRECT_AFTER && read_directly(self, slot) < 0) {
                return NULL;
            }
            slot->fed = 0;
        }
    }
    if (count)
        self->wakeups++;
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(allow_direct_doc,
"allow_direct(token, allowed)\n\n"
"Whether this socket may be read at the ticks only (nobody listens to it between ticks).\n"
"Not allowed any more: a direct socket is watched by epoll again at once.");

static PyObject *
Poller_allow_direct(Poller *self, PyObject *args)
{
    Py_ssize_t token;
    int allowed;
    if (!PyArg_ParseTuple(args, "np", &token, &allowed))
        return NULL;
    Slot *slot = live_slot(self, token);
    if (slot == NULL)
        Py_RETURN_NONE;
    slot->may_direct = (char)allowed;
    if (!allowed) {
        slot->streak = 0;
        if (slot->direct && watch_again(self, token, slot) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(is_direct_doc, "is_direct(token) -> bool: whether it is read at the ticks only.");

static PyObject *
Poller_is_direct(Poller *self, PyObject *args)
{
    Py_ssize_t token;
    if (!PyArg_ParseTuple(args, "n", &token))
        return NULL;
    Slot *slot = live_slot(self, token);
    return PyBool_FromLong(slot != NULL && slot->direct);
}


PyDoc_STRVAR(route_doc,
"route(token, host, port, to) -> bool\n\n"
"Datagrams on the socket ``token`` from (host, port) come out of drain() tagged ``to``\n"
"instead of ``token``, with one (host, port) tuple kept for that source (an IPv4 peer\n"
"of a dual-stack socket matches its IPv4 spelling). Replaces that source's route.\n"
"False when host is no IP address (its datagrams keep the socket's token).");

static PyObject *
Poller_route(Poller *self, PyObject *args)
{
    Py_ssize_t token;
    const char *host;
    long port;
    PyObject *to;
    if (!PyArg_ParseTuple(args, "nslO!", &token, &host, &port, &PyLong_Type, &to))
        return NULL;
    Slot *slot = live_slot(self, token);
    if (slot == NULL) {
        PyErr_Format(PyExc_ValueError, "token %zd is not in use", token);
        return NULL;
    }
    Key key;
    if (!key_parse(host, port, &key))
        Py_RETURN_FALSE;
    if ((self->nroutes + 1) * 2 > self->route_cap && routes_grow(self) < 0)
        return NULL;
    Route *r = route_cell(self, token, &key);
    if (r->socket == -1) {
        r->socket = token;
        r->key = key;
        r->addr = NULL;
        self->nroutes++;
        slot->routes++;
    } else {
        Py_CLEAR(r->to);
    }
    Py_INCREF(to);
    r->to = to;
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(unroute_doc,
"unroute(token, host, port) -> bool\n\n"
"That source's route taken out (its datagrams keep the socket's token again); False when\n"
"there was none.");

static PyObject *
Poller_unroute(Poller *self, PyObject *args)
{
    Py_ssize_t token;
    const char *host;
    long port;
    if (!PyArg_ParseTuple(args, "nsl", &token, &host, &port))
        return NULL;
    Key key;
    if (live_slot(self, token) == NULL || !key_parse(host, port, &key))
        Py_RETURN_FALSE;
    Route *r = route_cell(self, token, &key);
    if (r == NULL || r->socket == -1)
        Py_RETURN_FALSE;
    route_delete(self, r);
    Py_RETURN_TRUE;
}

static PyObject *
Poller_routes(Poller *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->nroutes);
}

PyDoc_STRVAR(hold_sends_doc,
"hold_sends()\n\n"
"send() queues its datagrams from now until flush() (a tick's sends, in one sendmmsg a\n"
"socket).");

static PyObject *
Poller_hold_sends(Poller *self, PyObject *Py_UNUSED(ignored))
{
    self->holding = 1;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(send_doc,
"send(fd, data, host, port) -> errno\n\n"
"As the module's sendto() outside hold_sends() .. flush(); inside, ``data`` (bytes) is\n"
"queued for flush() and 0 returned.");

static PyObject *
Poller_send(Poller *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    const char *host;
    long port;
    if (!send_args("send", args, nargs, &fd, &host, &port))
        return NULL;
    PyObject *data = args[1];
    if (self->holding && PyBytes_CheckExact(data)) {
        if (self->queued == self->queue_cap) {
            Py_ssize_t cap = self->queue_cap ? self->queue_cap * 2 : 256;
            Outgoing *queue = PyMem_Realloc(self->queue, (size_t)cap * sizeof(Outgoing));
            if (queue == NULL)
                return PyErr_NoMemory();
            self->queue = queue;
            self->queue_cap = cap;
        }
        Outgoing *o = &self->queue[self->queued];
        if (!parse_destination(host, port, &o->to, &o->to_len))
            return NULL;
        o->fd = fd;
        Py_INCREF(data);
        o->data = data;
        self->queued++;
        return PyLong_FromLong(0);
    }
    return send_now(fd, data, host, port);
}

PyDoc_STRVAR(flush_doc,
"flush() -> refused\n\n"
"The queued datagrams sent (each socket's run by sendmmsg) and the hold ended; returns\n"
"how many the kernel refused (a full buffer, an ICMP error of an earlier send), dropped.");

static PyObject *
Poller_flush(Poller *self, PyObject *Py_UNUSED(ignored))
{
    unsigned long long before = self->send_errors;
    self->holding = 0;
    flush_queue(self);
    return PyLong_FromUnsignedLongLong(self->send_errors - before);
}

static PyObject *
Poller_fileno(Poller *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(self->epfd);
}

static PyObject *
Poller_close(Poller *self, PyObject *Py_UNUSED(ignored))
{
    if (self->epfd >= 0) {
        close(self->epfd);
        self->epfd = -1;
    }
    Py_RETURN_NONE;
}

static PyObject *
Poller_stats(Poller *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsK}", "datagrams", self->datagrams, "truncated",
                         self->truncated, "wakeups", self->wakeups, "promotions",
                         self->promotions, "demotions", self->demotions, "routed", self->routed,
                         "batched", self->batched, "sendmmsgs", self->sendmmsgs, "send_errors",
                         self->send_errors);
}

static PyMethodDef Poller_methods[] = {
    {"add", (PyCFunction)Poller_add, METH_VARARGS,
     "add(fd, token): read this UDP socket in drain(), its datagrams tagged ``token``."},
    {"remove", (PyCFunction)Poller_remove, METH_VARARGS, "remove(token): stop reading it."},
    {"errors", (PyCFunction)Poller_errors, METH_VARARGS,
     "errors(token): receive errors of that socket (ICMP port unreachable and the like)."},
    {"drain", (PyCFunction)Poller_drain, METH_VARARGS, drain_doc},
    {"allow_direct", (PyCFunction)Poller_allow_direct, METH_VARARGS, allow_direct_doc},
    {"is_direct", (PyCFunction)Poller_is_direct, METH_VARARGS, is_direct_doc},
    {"route", (PyCFunction)Poller_route, METH_VARARGS, route_doc},
    {"unroute", (PyCFunction)Poller_unroute, METH_VARARGS, unroute_doc},
    {"routes", (PyCFunction)Poller_routes, METH_NOARGS, "routes() -> how many are set."},
    {"hold_sends", (PyCFunction)Poller_hold_sends, METH_NOARGS, hold_sends_doc},
    {"send", (PyCFunction)(void (*)(void))Poller_send, METH_FASTCALL, send_doc},
    {"flush", (PyCFunction)Poller_flush, METH_NOARGS, flush_doc},
    {"fileno", (PyCFunction)Poller_fileno, METH_NOARGS,
     "The epoll descriptor: readable when a socket has something."},
    {"close", (PyCFunction)Poller_close, METH_NOARGS, "Close the epoll descriptor."},
    {"stats", (PyCFunction)Poller_stats, METH_NOARGS, "Counters since the start."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PollerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sipgw.media._rtpio.Poller",
    .tp_basicsize = sizeof(Poller),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "UDP sockets read in batches (epoll + recvmmsg, kernel receive times).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Poller_init,
    .tp_dealloc = (destructor)Poller_dealloc,
    .tp_methods = Poller_methods,
};

PyDoc_STRVAR(sendto_doc,
"sendto(fd, data, host, port) -> errno\n\n"
"One datagram; 0 when it went, else the errno (EAGAIN: the socket's buffer is full,\n"
"ECONNREFUSED: an earlier ICMP error, ...). Nothing is raised for those.");

static PyObject *
rtpio_sendto(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    const char *host;
    long port;
    if (!send_args("sendto", args, nargs, &fd, &host, &port))
        return NULL;
    return send_now(fd, args[1], host, port);
}

static PyMethodDef module_methods[] = {
    {"sendto", (PyCFunction)(void (*)(void))rtpio_sendto, METH_FASTCALL, sendto_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef rtpio_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sipgw.media._rtpio",
    .m_doc = "Batched UDP receive (epoll + recvmmsg) and direct sends for the RTP path.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__rtpio(void)
{
    if (PyType_Ready(&PollerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&rtpio_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&PollerType);
    if (PyModule_AddObject(m, "Poller", (PyObject *)&PollerType) < 0) {
        Py_DECREF(&PollerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
