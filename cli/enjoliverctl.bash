# bash completion for enjoliverctl.
# Install: source it from ~/.bashrc, or copy it to
# /usr/share/bash-completion/completions/enjoliverctl.

_enjoliverctl() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion -n : || return # MACs: keep their colons in one word
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local global_flags="--server --token-file --tls-ca --output -o --timeout --help -h"
    local commands="get watch schedule rolling backup health version help"
    local roles="etcd-member kubernetes-control-plane kubernetes-node"

    # Values of the flags that take one.
    case $prev in
    -o | --output)
        mapfile -t COMPREPLY < <(compgen -W "table json yaml" -- "$cur")
        return
        ;;
    --token-file | --tls-ca)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return
        ;;
    --strategy)
        mapfile -t COMPREPLY < <(compgen -W "kexec reboot poweroff" -- "$cur")
        return
        ;;
    --role)
        mapfile -t COMPREPLY < <(compgen -W "$roles" -- "$cur")
        return
        ;;
    --server | --timeout | --state | --machine | --mac | --limit | --resume | --count)
        return
        ;;
    esac

    # The command and its words, skipping global flags and their values.
    local i cmd="" sub="" nargs=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        -o | --output | --server | --token-file | --tls-ca | --timeout | --strategy | --role | \
            --state | --machine | --mac | --limit | --resume | --count)
            ((i++))
            ;;
        -*) ;;
        *)
            if [ -z "$cmd" ]; then
                cmd=${words[i]}
            elif [ -z "$sub" ]; then
                sub=${words[i]}
            else
                ((nargs++))
            fi
            ;;
        esac
    done

    local flags=""
    case $cmd in
    "")
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$global_flags" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        return
        ;;
    help)
        [ -z "$sub" ] && mapfile -t COMPREPLY < <(compgen -W "${commands% help}" -- "$cur")
        return
        ;;
    get)
        if [ -z "$sub" ] && [[ $cur != -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "machines machine schedules rolling slots events" -- "$cur")
            return
        fi
        case $sub in
        machines) flags="--role --state --unscheduled" ;;
        events) flags="--machine --limit" ;;
        schedules)
            if [[ $cur != -* ]] && [ $nargs -eq 0 ]; then
                mapfile -t COMPREPLY < <(compgen -W "$roles" -- "$cur")
                return
            fi
            ;;
        esac
        ;;
    watch)
        if [ -z "$sub" ] && [[ $cur != -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "machines events" -- "$cur")
            return
        fi
        case $sub in
        machines) flags="--mac --resume --count" ;;
        events) flags="--machine --resume --limit --count" ;;
        esac
        ;;
    schedule)
        # schedule MAC ROLE[,ROLE...]: complete the role after the last comma.
        if [ -n "$sub" ] && [ $nargs -eq 0 ] && [[ $cur != -* ]]; then
            local prefix=""
            [[ $cur == *,* ]] && prefix=${cur%,*},
            mapfile -t COMPREPLY < <(compgen -P "$prefix" -W "$roles" -- "${cur##*,}")
            compopt -o nospace 2>/dev/null
            return
        fi
        ;;
    rolling)
        if [ -z "$sub" ] && [[ $cur != -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "enable disable" -- "$cur")
            return
        fi
        [ "$sub" = enable ] && flags="--strategy"
        ;;
    backup)
        if [ -z "$sub" ] && [[ $cur != -* ]]; then
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return
        fi
        ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$flags $global_flags" -- "$cur")
    fi
}

complete -F _enjoliverctl enjoliverctl
