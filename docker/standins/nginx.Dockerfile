# Stand-in for the official nginx image: configuration from /etc/nginx/conf.d, logs to the
# container's output, in the foreground.
FROM agora-standin/base:bookworm
RUN rm -f /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
